// libxml2's compiler and linker flags (pkg-config libxml-2.0) for the CXML target. Swift never
// imports libxml2's headers: they pull in the system's ICU, which clashes with Foundation's.
