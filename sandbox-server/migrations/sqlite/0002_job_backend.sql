-- The engine a job runs on, so that workers can take only the jobs of their engines.
ALTER TABLE jobs ADD COLUMN backend TEXT NOT NULL DEFAULT 'wasmtime';
