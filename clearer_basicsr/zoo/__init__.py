"""The model zoo that ships inside the package: one folder per entry, each with its genotype
(genotype.yml, genotype.png), its retrained weights (net_g.pth), a test option file (test.yml, with
paths relative to the repository root) and its figures (card.yml). All of it is data: nothing here
runs. ``clearer-zoo`` (:mod:`clearer_basicsr.tools.zoo`) lists and copies the entries and
``clearer-infer --zoo NAME`` runs one. The repository's top-level ``zoo/`` is a link to this folder."""
