-- One database per service: no service reads another's. The postgres image runs this file once,
-- as POSTGRES_USER, when it initializes an empty data volume (docker-compose.yml mounts it into
-- /docker-entrypoint-initdb.d). Each service applies its own migrations at start.
CREATE DATABASE booking;
CREATE DATABASE charge;
CREATE DATABASE link;
CREATE DATABASE notification;
