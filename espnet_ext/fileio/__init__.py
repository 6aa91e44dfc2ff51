"""File formats espnet_ext reads and writes (the counterpart of ``espnet2.fileio``).

Kept free of imports from the rest of espnet_ext, so that every package (text, utils, asr, dataprep, the
CLIs of bin) can read and write these files without pulling in data-dir validation or a CLI.
"""
