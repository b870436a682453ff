-- Queries of allabel/db.py.

-- name: dataset_id
SELECT id FROM datasets WHERE name = %(name)s;

-- name: dataset_names
SELECT name FROM datasets ORDER BY name;
