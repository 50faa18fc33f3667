"""The catalog: product descriptions (:mod:`.model`) and their DCAT rendering (:mod:`.dcat`)."""

# The base of every node's IRI when the operator names none; here, not in `.dcat`, so that
# the CLI can show it as a default without importing the policy model.
DEFAULT_BASE_IRI = "https://dataspace.example.gov.cn"
