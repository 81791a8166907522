#!/usr/bin/env python3
"""Extract the request-body models of the operations hipaa-operator calls from a checkout of
Azure/azure-rest-api-specs, as azure-sim's conformance test data.

    python3 scripts/conformance/extract.py SPECS_CHECKOUT \
        [--operations scripts/conformance/operations.json] \
        [--out azure-sim/conformance/models.json] \
        [--provenance FILE.tsv]

SPECS_CHECKOUT is the root of a checkout (the folder holding `specification/`). The spec commit
recorded for every operation is the checkout's `git rev-parse HEAD`; a checkout that is not a git
work tree (a sparse copy of some files) must pass --provenance, a TSV of `path<TAB>commit` lines
naming the commit each copied file came from.

What is kept of the swagger (Swagger 2.0 / OpenAPI as Azure publishes it):
  * `$ref`, local or to another file, as a reference into a shared `definitions` table keyed
    `<file>#<definition>` (so recursive models stay finite);
  * `allOf` flattened: a model has its parents' properties and required lists;
  * `discriminator` with the models that derive from it, keyed by `x-ms-discriminator-value` (or
    the model name), as `variants`;
  * `properties`, `required`, `readOnly`, `enum`, `type`, `items`, `additionalProperties`
    (`true` or `{}` an open map of anything, a schema an open map of that);
  * `x-ms-client-flatten` is ignored: it changes SDK shapes, not the wire.
Everything else (descriptions, formats, examples, bounds) is dropped.
"""

import argparse
import json
import os
import subprocess
import sys

METHODS = ("put", "patch", "post")


class SpecError(Exception):
    pass


class Specs:
    """Loads swagger files from a checkout and normalizes their schemas."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.files = {}
        self.definitions = {}
        self.in_progress = set()
        self.used_files = set()
        # The files each definition was built from (its own, and its allOf parents').
        self.deps = {}
        self.building = []

    def rel(self, path):
        return os.path.relpath(os.path.abspath(path), self.root).replace(os.sep, "/")

    def load(self, rel_path):
        if rel_path not in self.files:
            full = os.path.join(self.root, rel_path)
            if not os.path.isfile(full):
                raise SpecError(f"{rel_path}: not in the checkout")
            with open(full, encoding="utf-8-sig") as f:
                self.files[rel_path] = json.load(f)
        self.used_files.add(rel_path)
        return self.files[rel_path]

    def split_ref(self, ref, current_file):
        """`other.json#/definitions/X` relative to current_file -> (file, json pointer)."""
        file_part, _, pointer = ref.partition("#")
        if file_part:
            base = os.path.dirname(os.path.join(self.root, current_file))
            file_part = self.rel(os.path.normpath(os.path.join(base, file_part)))
        else:
            file_part = current_file
        return file_part, pointer

    def pointer(self, rel_path, pointer):
        node = self.load(rel_path)
        for part in [p for p in pointer.split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise SpecError(f"{rel_path}#{pointer}: no such node")
            node = node[part]
        return node

    def resolve_parameter(self, param, current_file):
        seen = 0
        while "$ref" in param:
            seen += 1
            if seen > 32:
                raise SpecError(f"{current_file}: parameter $ref chain too long")
            current_file, ptr = self.split_ref(param["$ref"], current_file)
            param = self.pointer(current_file, ptr)
        return param, current_file

    # --- schemas -------------------------------------------------------------------------

    def definition(self, rel_path, pointer):
        """The key of a normalized named definition, normalizing it on first use."""
        name = pointer.rsplit("/", 1)[-1]
        key = f"{rel_path}#{name}" if pointer.startswith("/definitions/") else f"{rel_path}#{pointer}"
        if key in self.definitions or key in self.in_progress:
            return key
        self.in_progress.add(key)
        self.deps[key] = {rel_path}
        self.building.append(key)
        raw = self.pointer(rel_path, pointer)
        normalized = self.normalize(raw, rel_path)
        self.building.pop()
        self.definitions[key] = normalized
        self.in_progress.discard(key)
        if "discriminator" in raw:
            variants = self.variants(rel_path, pointer, raw)
            if variants:
                normalized["variants"] = variants
        return key

    def flattened(self, rel_path, pointer):
        """A definition's normalized object model, with every allOf parent merged in."""
        key = self.definition(rel_path, pointer)
        if key not in self.definitions:
            raise SpecError(f"{key}: allOf cycle")
        return self.definitions[key]

    def variants(self, rel_path, pointer, raw):
        """Models deriving (through allOf) from the discriminated definition, in the same file."""
        doc = self.load(rel_path)
        base_name = pointer.rsplit("/", 1)[-1]
        out = {}
        for name, d in sorted(doc.get("definitions", {}).items()):
            for part in d.get("allOf", []):
                ref = part.get("$ref")
                if not ref:
                    continue
                f, ptr = self.split_ref(ref, rel_path)
                if f == rel_path and ptr == pointer:
                    value = d.get("x-ms-discriminator-value", name)
                    out[value] = {"$ref": self.definition(rel_path, f"/definitions/{name}")}
        if "x-ms-discriminator-value" in raw:
            out.setdefault(raw["x-ms-discriminator-value"], {"$ref": f"{rel_path}#{base_name}"})
        return out

    def normalize(self, schema, rel_path):
        if not isinstance(schema, dict):
            return {}
        if "$ref" in schema:
            f, ptr = self.split_ref(schema["$ref"], rel_path)
            out = {"$ref": self.definition(f, ptr)}
            if schema.get("readOnly") is True:
                out["readOnly"] = True
            return out
        out = {}
        properties = {}
        required = []
        for part in schema.get("allOf", []):
            if "$ref" in part:
                f, ptr = self.split_ref(part["$ref"], rel_path)
                parent = self.flattened(f, ptr)
                if self.building:
                    self.deps[self.building[-1]] |= self.deps[self.definition(f, ptr)]
            else:
                parent = self.normalize(part, rel_path)
            properties.update(parent.get("properties", {}))
            for r in parent.get("required", []):
                if r not in required:
                    required.append(r)
            if "additionalProperties" in parent and "additionalProperties" not in out:
                out["additionalProperties"] = parent["additionalProperties"]
            if "discriminator" in parent and "discriminator" not in out:
                out["discriminator"] = parent["discriminator"]
            if parent.get("type") and "type" not in out:
                out["type"] = parent["type"]
        for name, prop in schema.get("properties", {}).items():
            properties[name] = self.normalize(prop, rel_path)
        for r in schema.get("required", []):
            if r not in required:
                required.append(r)
        if "type" in schema:
            out["type"] = schema["type"]
        if properties:
            out["properties"] = properties
            out.setdefault("type", "object")
        if required:
            out["required"] = required
        if "additionalProperties" in schema:
            ap = schema["additionalProperties"]
            if ap is True or ap == {} or (isinstance(ap, dict) and set(ap) <= {"description"}):
                out["additionalProperties"] = True
            elif ap is False:
                out["additionalProperties"] = False
            else:
                out["additionalProperties"] = self.normalize(ap, rel_path)
        if "discriminator" in schema:
            out["discriminator"] = schema["discriminator"]
        if schema.get("readOnly") is True:
            out["readOnly"] = True
        if "enum" in schema:
            out["enum"] = schema["enum"]
            if schema.get("x-ms-enum", {}).get("modelAsString"):
                out["modelAsString"] = True
        if "items" in schema:
            out["items"] = self.normalize(schema["items"], rel_path)
        return out

    # --- operations ----------------------------------------------------------------------

    def operation(self, spec_file, operation_id):
        doc = self.load(spec_file)
        found = []
        for section in ("paths", "x-ms-paths"):
            for template, item in doc.get(section, {}).items():
                for method, op in item.items():
                    if isinstance(op, dict) and op.get("operationId") == operation_id:
                        found.append((template, method, op, item.get("parameters", [])))
        if len(found) != 1:
            raise SpecError(f"{spec_file}: {len(found)} operations named {operation_id}")
        return found[0]

    def extract(self, entry):
        spec_file = entry["specFile"]
        template, method, op, shared_params = self.operation(spec_file, entry["operationId"])
        if method not in METHODS:
            raise SpecError(f"{entry['operationId']}: {method.upper()} has no request body to check")
        body = None
        multi = []
        body_file = spec_file
        for p in list(shared_params) + list(op.get("parameters", [])):
            param, pfile = self.resolve_parameter(p, spec_file)
            if param.get("in") == "body":
                body, body_file = param, pfile
            if param.get("in") == "path" and param.get("x-ms-skip-url-encoding"):
                multi.append(param["name"])
        if body is None:
            raise SpecError(f"{entry['operationId']}: no body parameter")
        schema = self.normalize(body["schema"], body_file)
        if entry.get("wrapBodyInProperties"):
            schema = {"type": "object", "properties": {"properties": schema}, "required": ["properties"]}
        # The template's host-relative path: the data plane's `{vaultBaseUrl}` is the host.
        out = {
            "operationId": entry["operationId"],
            "provider": entry["provider"],
            "apiVersion": entry["apiVersion"],
            "plane": entry.get("plane", "arm"),
            "method": method.upper(),
            "path": template,
            "multiSegmentParams": multi,
            "bodyRequired": bool(body.get("required")),
            "body": schema,
        }
        if entry.get("exception"):
            out["exception"] = entry["exception"]
        return out


def git_head(root):
    """The checkout's HEAD commit, when `root` is the top of a git work tree (not merely inside
    one)."""
    def git(*args):
        return subprocess.run(
            ["git", "-C", root, *args], check=True, capture_output=True, text=True,
        ).stdout.strip()
    try:
        top = git("rev-parse", "--show-toplevel")
        if os.path.realpath(top) != os.path.realpath(root):
            return None
        return git("rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        return None


def read_provenance(path):
    commits = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            file_path, commit = line.split("\t")[:2]
            commits[file_path] = commit
    return commits


def reachable(definitions, bodies):
    """The definition keys reachable from the given body schemas."""
    keep = set()
    stack = list(bodies)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref not in keep:
                keep.add(ref)
                stack.append(definitions[ref])
            stack.extend(v for k, v in node.items() if k != "$ref")
        elif isinstance(node, list):
            stack.extend(node)
    return keep


def only_used(definitions, operations):
    """The definitions the operations' bodies reach (variants found in passing that no body
    reaches are dropped)."""
    keep = reachable(definitions, [op["body"] for op in operations])
    return {k: definitions[k] for k in sorted(keep)}


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkout", help="root of an Azure/azure-rest-api-specs checkout")
    ap.add_argument("--operations", default=os.path.join(here, "operations.json"))
    ap.add_argument("--out", default=os.path.join(repo, "azure-sim", "conformance", "models.json"))
    ap.add_argument("--provenance", help="TSV of path<TAB>commit for a checkout that is not a git work tree")
    args = ap.parse_args(argv)

    with open(args.operations, encoding="utf-8") as f:
        config = json.load(f)
    head = git_head(args.checkout)
    commits = read_provenance(args.provenance) if args.provenance else {}
    if head is None and not commits:
        ap.error("the checkout is not a git work tree: pass --provenance")

    specs = Specs(args.checkout)
    operations, skipped = [], []
    for entry in config["operations"]:
        if entry.get("skip"):
            skipped.append({k: entry[k] for k in ("operationId", "provider", "apiVersion", "skip")})
            continue
        try:
            op = specs.extract(entry)
        except SpecError as e:
            if entry["specFile"] in specs.files or head is not None:
                raise
            # A sparse checkout without this operation's spec: say so, do not guess.
            skipped.append({
                "operationId": entry["operationId"], "provider": entry["provider"],
                "apiVersion": entry["apiVersion"], "skip": f"not extracted: {e}",
            })
            continue
        keys = reachable(specs.definitions, [op["body"]])
        files = sorted(set().union(*(specs.deps[k] for k in keys)) | {entry["specFile"]})
        commit = head or commits.get(entry["specFile"])
        if commit is None:
            raise SpecError(f"{entry['specFile']}: no commit in --provenance")
        op["source"] = {"file": entry["specFile"], "commit": commit}
        op["sourceFiles"] = [{"file": f, "commit": head or commits.get(f, "unknown")} for f in files]
        operations.append(op)

    result = {
        "generatedBy": "scripts/conformance/extract.py",
        "specRepository": "Azure/azure-rest-api-specs",
        "specCommit": head or "per file (sparse checkout): see each operation's source",
        "operations": operations,
        "notCovered": skipped,
        "definitions": only_used(specs.definitions, operations),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"{len(operations)} operations extracted, {len(skipped)} not covered -> {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SpecError as e:
        print(f"extract.py: {e}", file=sys.stderr)
        sys.exit(1)
