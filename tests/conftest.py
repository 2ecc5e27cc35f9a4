pytest_plugins = ["tests.fhir_server", "tests.services"]
