-- One database per Liaison service (each service makes its own schema and
-- tables in it on start).
CREATE DATABASE liaison_contacts;
CREATE DATABASE liaison_relations;
CREATE DATABASE liaison_gateway;
