"""Writes CanonicalDecompositions.txt: every code point whose Unicode canonical decomposition (NFD) differs from
itself, except the Hangul syllables (decomposed by formula in AccentStripper.cs), one per line as hex code points:
    00E9 0065 0301
The engine builds with InvariantGlobalization, where string.Normalize leaves non-ASCII text as it is, so BERT's
accent stripping needs this table. Run with any Python 3 (its unicodedata gives the Unicode version):
    /usr/bin/python3 make_decompositions.py
"""
import unicodedata

with open("CanonicalDecompositions.txt", "w", encoding="ascii", newline="\n") as f:
    f.write(f"# NFD decompositions, Unicode {unicodedata.unidata_version}, written by make_decompositions.py\n")
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3:
            continue
        decomposed = unicodedata.normalize("NFD", chr(cp))
        if decomposed != chr(cp):
            f.write(" ".join(f"{ord(c):04X}" for c in [chr(cp)] + list(decomposed)) + "\n")
