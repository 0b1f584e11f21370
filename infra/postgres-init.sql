-- A second database for MLflow's backend store.
CREATE DATABASE mlflow OWNER chiplab;
