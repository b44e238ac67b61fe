-- Run once by the postgres image on an empty volume: the Prefect server's own database.
CREATE DATABASE prefect OWNER aiprod;
