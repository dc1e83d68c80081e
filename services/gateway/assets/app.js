"use strict";
// Search-as-you-type for a contact: the other end of a new relation, the
// duplicate of a merge. Without script the forms still work: the server
// resolves the typed name. An input opts in with role=combobox and
// data-hidden (the field that receives the pick); the kinds searched come
// from data-kinds or from the option chosen in the select data-kinds-from.
const contactSearch = (input) => {
  const hidden = document.getElementById(input.dataset.hidden);
  const list = document.getElementById(input.getAttribute("aria-controls"));
  const kindsFrom = input.dataset.kindsFrom ? document.getElementById(input.dataset.kindsFrom) : null;
  const exclude = input.dataset.exclude || "";
  if (!hidden || !list) return;
  let active = -1;
  let timer = null;
  const kinds = () => {
    const option = kindsFrom ? kindsFrom.selectedOptions[0] : null;
    const allowed = option ? option.dataset.kinds : (input.dataset.kinds || "");
    return allowed ? allowed.split(",") : ["contacts.organisation", "contacts.person"];
  };
  const close = () => { list.hidden = true; input.setAttribute("aria-expanded", "false"); active = -1; };
  const choose = (item) => {
    input.value = item.dataset.label;
    hidden.value = item.dataset.target;
    close();
  };
  const highlight = (index) => {
    const items = list.querySelectorAll("li");
    items.forEach((item, i) => item.setAttribute("aria-selected", i === index ? "true" : "false"));
    active = index;
  };
  const search = async () => {
    const text = input.value.trim();
    hidden.value = "";
    if (text.length < 1) { close(); return; }
    const sources = [];
    for (const kind of kinds()) {
      const path = kind === "contacts.person" ? "/api/persons" : "/api/organisations";
      sources.push(fetch(`${path}?limit=8&q=${encodeURIComponent(text)}`, { credentials: "same-origin" })
        .then((reply) => reply.ok ? reply.json() : { items: [] })
        .then((page) => page.items.filter((item) => item.id !== exclude).map((item) => ({
          target: `${kind}:${item.id}`,
          label: kind === "contacts.person" ? `${item.given_name} ${item.family_name}`.trim() : item.name,
          kind: kind === "contacts.person" ? "person" : "organisation",
        }))));
    }
    const found = (await Promise.all(sources)).flat();
    list.replaceChildren();
    found.forEach((entry, index) => {
      const item = document.createElement("li");
      item.id = `${list.id}-${index}`;
      item.setAttribute("role", "option");
      item.dataset.target = entry.target;
      item.dataset.label = entry.label;
      item.textContent = `${entry.label} (${entry.kind})`;
      item.addEventListener("mousedown", (event) => { event.preventDefault(); choose(item); });
      list.appendChild(item);
    });
    list.hidden = found.length === 0;
    input.setAttribute("aria-expanded", found.length ? "true" : "false");
    active = -1;
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 150); });
  input.addEventListener("keydown", (event) => {
    const items = list.querySelectorAll("li");
    if (event.key === "ArrowDown" && items.length) { event.preventDefault(); highlight(Math.min(active + 1, items.length - 1)); }
    else if (event.key === "ArrowUp" && items.length) { event.preventDefault(); highlight(Math.max(active - 1, 0)); }
    else if (event.key === "Enter" && active >= 0) { event.preventDefault(); choose(items[active]); }
    else if (event.key === "Escape") { close(); }
  });
  input.addEventListener("blur", () => setTimeout(close, 100));
  if (kindsFrom) kindsFrom.addEventListener("change", () => { hidden.value = ""; });
};
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("input[role=combobox][data-hidden]").forEach(contactSearch);
});

// Edit forms: typing into the last row of a list (emails, phones,
// addresses) adds an empty row after it. Without script the form still
// has one empty row per list.
document.addEventListener("input", (event) => {
  const row = event.target.closest("[data-row]");
  if (!row) return;
  const list = row.dataset.row;
  const rows = row.parentElement.querySelectorAll(`[data-row="${list}"]`);
  if (rows[rows.length - 1] !== row) return;
  const next = rows.length;
  const renumber = (value) => value.replace(new RegExp(`^${list}-\\d+-`), `${list}-${next}-`);
  const copy = row.cloneNode(true);
  copy.classList.remove("invalid");
  copy.querySelectorAll("input, textarea").forEach((field) => {
    if (field.id) field.id = renumber(field.id);
    if (field.type === "radio") { field.value = String(next); field.checked = false; }
    else { field.name = renumber(field.name); field.value = ""; }
    field.removeAttribute("aria-invalid");
  });
  copy.querySelectorAll("label[for]").forEach((label) => {
    label.htmlFor = renumber(label.htmlFor);
    label.textContent = label.textContent.replace(/\d+$/, String(next + 1));
  });
  row.after(copy);
});

// Forms that cannot be undone ask first (data-confirm holds the question).
// Without script they submit at once, as any form.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});
