"""Models trained elsewhere in grokscope's one state format: ``layouts`` converts, ``sources`` reads their files."""
