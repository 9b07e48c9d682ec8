#!/usr/bin/env python3
"""Check the Julia package without Julia (which cannot be installed on the build machines).

1. Every .jl file under bindings/julia parses with tree-sitter-julia without ERROR or missing nodes.
2. Every `@ccall libijkonet.sym(args...)::Ret` names a function declared in include/ijkonet.h, with
   the same number of arguments, each argument's Julia type matching the C parameter type and the
   return type matching the C return type. The library is `libijkonet`, a constant holding the
   library's SONAME (libijkonet.so.MAJOR, MAJOR from Cargo.toml as build.rs sets it), and the module's
   `__init__` dlopens the file it finds with RTLD_GLOBAL, so the SONAME resolves to it at run time
   (never a path frozen at precompile time); no other ccall form (`ccall(...)`) is allowed.
3. The `Progress` struct has the field types of the header's `ijk_progress`, and every `@cfunction` has
   the signature of `ijk_progress_fn`.

Prints one line "N passed, N failed"; exits non-zero on any failure. Run with the venv from
setup-check.sh (tree-sitter, tree-sitter-julia).
"""
import re
import sys
from pathlib import Path

import tree_sitter_julia
from tree_sitter import Language, Parser

HERE = Path(__file__).resolve().parent
HEADER = HERE.parent.parent / "include" / "ijkonet.h"
CARGO_TOML = HERE.parent.parent / "Cargo.toml"
SONAME = "libijkonet.so." + re.search(r'^version = "(\d+)\.', CARGO_TOML.read_text(), flags=re.M).group(1)

# C scalar types and the Julia types that have their layout.
SCALARS = {
    "void": {"Cvoid", "Nothing"},
    "double": {"Float64", "Cdouble"},
    "float": {"Float32", "Cfloat"},
    "size_t": {"Csize_t", "UInt"},
    "int32_t": {"Int32", "Cint"},
    "uint32_t": {"UInt32", "Cuint"},
    "int64_t": {"Int64", "Clonglong"},
    "uint64_t": {"UInt64", "Culonglong"},
    "bool": {"Bool"},
    "char": {"Cchar", "UInt8", "Int8"},
    # Opaque handles and the progress struct are passed by pointer only.
    "ijk_config": {"Cvoid"},
    "ijk_model": {"Cvoid"},
    "ijk_error": {"Cvoid"},
    "ijk_progress": {"Cvoid", "Progress"},
}


def julia_types(ctype):
    """The set of Julia type spellings (no spaces) compatible with a C type."""
    ctype = re.sub(r"\b(const|struct)\b", " ", ctype)
    stars = ctype.count("*")
    base = ctype.replace("*", " ").split()
    base = " ".join(base)
    if base == "ijk_progress_fn" and stars == 0:
        return {"Ptr{Cvoid}"}
    if base not in SCALARS:
        raise ValueError(f"unknown C type '{ctype}'")
    types = set(SCALARS[base])
    if base == "char" and stars == 1:
        return {"Cstring", "Ptr{UInt8}", "Ptr{Cchar}"}
    for _ in range(stars):
        types = {f"Ptr{{{t}}}" for t in types} | ({"Ref{" + t + "}" for t in types} if stars == 1 else set())
    return types


def parse_header(path):
    """{name: (return type, [parameter types])} for every function declared in the header."""
    text = path.read_text()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^\s*#[^\n]*", " ", text, flags=re.M)
    decls = {}
    for m in re.finditer(r"([A-Za-z_][\w\s\*]*?)\b(ijk_\w+)\s*\(([^()]*)\)\s*;", text):
        ret, name, params = " ".join(m.group(1).split()), m.group(2), m.group(3).strip()
        if ret.startswith("typedef"):
            continue
        ptypes = []
        if params and params != "void":
            for p in params.split(","):
                p = " ".join(p.split())
                # Drop the parameter name: the last identifier.
                ptypes.append(re.sub(r"\b\w+$", "", p).strip())
        decls[name] = (ret, ptypes)
    return decls


def parse_struct(path, name):
    """[(field, C type)] of `typedef struct name { ... }` in the header."""
    text = re.sub(r"/\*.*?\*/", " ", path.read_text(), flags=re.S)
    m = re.search(r"typedef\s+struct\s+" + name + r"\s*\{(.*?)\}", text, flags=re.S)
    if not m:
        return []
    fields = []
    for decl in m.group(1).split(";"):
        decl = " ".join(decl.split())
        if decl:
            fields.append((re.search(r"(\w+)$", decl).group(1), re.sub(r"\b\w+$", "", decl).strip()))
    return fields


def julia_struct(src, root, name):
    """[(field, Julia type)] of `struct name ... end` in a parsed file, or None when absent."""
    for node in walk(root):
        if node.type != "struct_definition":
            continue
        names = [c for c in node.named_children if c.type in ("identifier", "type_head")]
        if not names or text_of(src, names[0]).strip() != name:
            continue
        fields = []
        for c in node.named_children[1:]:
            if c.type == "typed_expression":
                fields.append((text_of(src, c.named_children[0]), "".join(text_of(src, c.named_children[-1]).split())))
        return fields
    return None


def text_of(src, node):
    return src[node.start_byte : node.end_byte].decode()


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


def check_ccall(src, node, decls):
    """Problems with one @ccall site (an empty list when it matches the header)."""
    args = [c for c in node.children if c.type in ("argument_list", "macro_argument_list")]
    typed = [c for c in args[0].named_children] if args else []
    if not typed or typed[0].type != "typed_expression":
        return ["@ccall without a return type annotation"]
    call, ret_type = typed[0].named_children[0], typed[0].named_children[-1]
    if call.type != "call_expression" or call.named_children[0].type != "field_expression":
        return ["@ccall target is not lib.symbol(...)"]
    target = call.named_children[0]
    lib, sym = text_of(src, target.named_children[0]), text_of(src, target.named_children[-1])
    problems = []
    if "".join(lib.split()) != "libijkonet":
        problems.append(f"{sym}: library '{lib}' is not libijkonet (the SONAME constant)")
    if sym not in decls:
        return problems + [f"{sym}: not declared in {HEADER.name}"]
    c_ret, c_params = decls[sym]
    jl_args = [a for a in call.named_children[1].named_children]
    if len(jl_args) != len(c_params):
        problems.append(f"{sym}: {len(jl_args)} arguments, the header declares {len(c_params)}")
    for i, (a, ctype) in enumerate(zip(jl_args, c_params)):
        if a.type != "typed_expression":
            problems.append(f"{sym}: argument {i + 1} has no type annotation")
            continue
        jtype = "".join(text_of(src, a.named_children[-1]).split())
        if jtype not in julia_types(ctype):
            problems.append(f"{sym}: argument {i + 1} is {jtype}, the header says '{ctype}'")
    jret = "".join(text_of(src, ret_type).split())
    if jret not in julia_types(c_ret):
        problems.append(f"{sym}: returns {jret}, the header says '{c_ret}'")
    return problems


def main():
    parser = Parser(Language(tree_sitter_julia.language()))
    decls = parse_header(HEADER)
    passed = failed = 0
    called = set()

    def report(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {what}")

    files = sorted(HERE.rglob("*.jl"))
    report(len(files) > 0 and len(decls) > 0, "found .jl files and header declarations")
    for path in files:
        src = path.read_bytes()
        tree = parser.parse(src)
        bad = [n for n in walk(tree.root_node) if n.type == "ERROR" or n.is_missing]
        where = ", ".join(f"line {n.start_point[0] + 1}" for n in bad[:5])
        report(not bad, f"{path.relative_to(HERE)} parses without errors" + (f" ({where})" if bad else ""))
        for node in walk(tree.root_node):
            if node.type != "macrocall_expression":
                continue
            name = [c for c in node.children if c.type == "macro_identifier"]
            if not name or text_of(src, name[0]) != "@ccall":
                continue
            problems = check_ccall(src, node, decls)
            called.update(re.findall(r"libijkonet\.(\w+)", text_of(src, node)))
            line = node.start_point[0] + 1
            report(not problems, f"{path.relative_to(HERE)}:{line}: " + "; ".join(problems))
    # The library is resolved at load time: `const libijkonet = "<SONAME>"`, `__init__` dlopens the
    # file it finds with RTLD_GLOBAL, and no plain `ccall(` bypasses the checks above.
    for path in files:
        text = re.sub(r"#[^\n]*", "", path.read_text())
        if path.name != "IJKOnet.jl":
            report("ccall(" not in text.replace("@ccall(", ""), f"{path.relative_to(HERE)}: no plain ccall")
            continue
        report(re.search(r'^const libijkonet = "' + re.escape(SONAME) + '"$', text, flags=re.M) is not None,
               f"{path.relative_to(HERE)}: libijkonet is the SONAME constant \"{SONAME}\"")
        init = re.search(r"^function __init__\(\)\n(.*?)^end", text, flags=re.M | re.S)
        report(init is not None and re.search(r"Libdl\.dlopen\([^\n]*RTLD_GLOBAL", init.group(1)) is not None,
               f"{path.relative_to(HERE)}: __init__ dlopens the library with RTLD_GLOBAL")
        report("ccall(" not in text.replace("@ccall(", ""), f"{path.relative_to(HERE)}: no plain ccall")
    # The progress struct the callback receives must have the header's layout, field by field.
    c_fields = parse_struct(HEADER, "ijk_progress")
    for path in files:
        src = path.read_bytes()
        fields = julia_struct(src, parser.parse(src).root_node, "Progress")
        if fields is None:
            continue
        same = len(fields) == len(c_fields) and all(
            jt in julia_types(ct) for (_, jt), (_, ct) in zip(fields, c_fields))
        report(same and len(c_fields) > 0,
               f"{path.relative_to(HERE)}: struct Progress {fields} matches ijk_progress {c_fields}")
    # Every @cfunction (the progress callback) must have the signature of ijk_progress_fn.
    text = re.sub(r"/\*.*?\*/", " ", HEADER.read_text(), flags=re.S)
    fn = re.search(r"typedef\s+(\w+)\s*\(\s*\*\s*ijk_progress_fn\s*\)\s*\(([^()]*)\)", text)
    fn_ret, fn_params = fn.group(1), [re.sub(r"\b\w+$", "", " ".join(p.split())).strip() for p in fn.group(2).split(",")]
    for path in files:
        src = path.read_bytes()
        for node in walk(parser.parse(src).root_node):
            if node.type != "macrocall_expression" or not text_of(src, node).startswith("@cfunction"):
                continue
            args = [c for c in node.children if c.type in ("argument_list", "macro_argument_list")][0].named_children
            ret = "".join(text_of(src, args[1]).split())
            params = ["".join(text_of(src, a).split()) for a in args[2].named_children] if len(args) > 2 else []
            ok = ret in julia_types(fn_ret) and len(params) == len(fn_params) and all(
                jt in julia_types(ct) for jt, ct in zip(params, fn_params))
            report(ok, f"{path.relative_to(HERE)}:{node.start_point[0] + 1}: @cfunction ({ret}, {params}) "
                       f"matches ijk_progress_fn ({fn_ret}, {fn_params})")
    # The wrapper should reach the whole model API.
    for sym in ("ijk_model_add_snapshot_f64", "ijk_model_train", "ijk_model_predict_step", "ijk_model_predict_at",
                "ijk_model_simulate", "ijk_simulate_len", "ijk_model_potential", "ijk_model_grad_potential",
                "ijk_model_save", "ijk_model_load_on", "ijk_model_free", "ijk_error_free", "ijk_model_baseline_predict",
                "ijk_model_evaluate_step", "ijk_model_potential_rows", "ijk_model_grad_potential_rows",
                "ijk_model_clone", "ijk_model_info", "ijk_model_epochs_done", "ijk_model_interaction_field"):
        report(sym in called, f"the package calls {sym}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
