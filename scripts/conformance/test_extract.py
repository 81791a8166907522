"""Tests of extract.py on a small spec tree written here (not Azure's): references across files,
allOf, discriminators, readOnly, enums, open maps, multi-segment path parameters, the wrapped-body
exception, provenance, and an operation whose spec file a sparse copy lacks.

    python3 -m unittest discover -s scripts/conformance
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import extract  # noqa: E402

COMMON = {
    "swagger": "2.0",
    "definitions": {
        "Resource": {
            "properties": {
                "id": {"type": "string", "readOnly": True},
                "name": {"type": "string", "readOnly": True},
            }
        },
        "systemData": {"type": "object", "readOnly": True, "properties": {"createdBy": {"type": "string"}}},
    },
    "parameters": {
        "ApiVersion": {"name": "api-version", "in": "query", "required": True, "type": "string"},
        "Scope": {"name": "scope", "in": "path", "required": True, "type": "string", "x-ms-skip-url-encoding": True},
    },
}

SERVICE = {
    "swagger": "2.0",
    "paths": {
        "/{scope}/providers/Test.RP/things/{name}": {
            "get": {"operationId": "Things_Get", "parameters": []},
            "put": {
                "operationId": "Things_CreateOrUpdate",
                "parameters": [
                    {"$ref": "../common/types.json#/parameters/Scope"},
                    {"$ref": "../common/types.json#/parameters/ApiVersion"},
                    {"name": "name", "in": "path", "required": True, "type": "string"},
                    {"name": "thing", "in": "body", "required": True, "schema": {"$ref": "#/definitions/Thing"}},
                ],
            },
        },
        "/subscriptions/{s}/providers/Test.RP/reviews/{id}": {
            "put": {
                "operationId": "Reviews_Create",
                "parameters": [{"name": "p", "in": "body", "schema": {"$ref": "#/definitions/ReviewProperties"}}],
            }
        },
    },
    "definitions": {
        "Thing": {
            "allOf": [{"$ref": "../common/types.json#/definitions/Resource"}],
            "properties": {
                "properties": {"$ref": "#/definitions/ThingProperties", "x-ms-client-flatten": True},
                "systemData": {"$ref": "../common/types.json#/definitions/systemData"},
                "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "required": ["properties"],
        },
        "ThingProperties": {
            "properties": {
                "mode": {"type": "string", "enum": ["On", "Off"], "x-ms-enum": {"name": "Mode", "modelAsString": True}},
                "state": {"type": "string", "readOnly": True},
                "shapes": {"type": "array", "items": {"$ref": "#/definitions/Shape"}},
                "anything": {"type": "object", "additionalProperties": {}},
            },
            "required": ["mode"],
        },
        "Shape": {"discriminator": "kind", "properties": {"kind": {"type": "string"}}, "required": ["kind"]},
        "Circle": {
            "x-ms-discriminator-value": "circle",
            "allOf": [{"$ref": "#/definitions/Shape"}],
            "properties": {"radius": {"type": "number"}},
        },
        "ReviewProperties": {"properties": {"displayName": {"type": "string"}}},
        "Unused": {"properties": {"x": {"type": "string"}}},
    },
}

OPERATIONS = {
    "operations": [
        {"operationId": "Things_CreateOrUpdate", "provider": "Test.RP", "apiVersion": "2024-01-01",
         "specFile": "specification/test/stable/2024-01-01/service.json"},
        {"operationId": "Reviews_Create", "provider": "Test.RP", "apiVersion": "2024-01-01",
         "specFile": "specification/test/stable/2024-01-01/service.json",
         "wrapBodyInProperties": True, "exception": "the examples wrap the body"},
        {"operationId": "Gone_Create", "provider": "Other.RP", "apiVersion": "2020-01-01",
         "specFile": "specification/other/other.json"},
    ]
}


class ExtractTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        root = self.tmp.name
        self.root = os.path.join(root, "specs")
        files = {
            "specification/test/stable/common/types.json": COMMON,
            "specification/test/stable/2024-01-01/service.json": SERVICE,
        }
        for path, doc in files.items():
            full = os.path.join(self.root, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w", encoding="utf-8") as f:
                json.dump(doc, f)
        self.ops = os.path.join(root, "operations.json")
        with open(self.ops, "w", encoding="utf-8") as f:
            json.dump(OPERATIONS, f)
        self.out = os.path.join(root, "models.json")

    def tearDown(self):
        self.tmp.cleanup()

    def run_extract(self, *extra):
        extract.main([self.root, "--operations", self.ops, "--out", self.out, *extra])
        with open(self.out, encoding="utf-8") as f:
            return json.load(f)

    def provenance(self):
        path = os.path.join(self.tmp.name, "prov.tsv")
        with open(path, "w", encoding="utf-8") as f:
            f.write("specification/test/stable/2024-01-01/service.json\taaaa\n")
            f.write("specification/test/stable/common/types.json\tbbbb\n")
        return path

    def test_a_sparse_copy_needs_provenance_and_records_it_per_file(self):
        with self.assertRaises(SystemExit):
            self.run_extract()
        models = self.run_extract("--provenance", self.provenance())
        things = models["operations"][0]
        self.assertEqual(things["source"], {"file": "specification/test/stable/2024-01-01/service.json", "commit": "aaaa"})
        self.assertIn({"file": "specification/test/stable/common/types.json", "commit": "bbbb"}, things["sourceFiles"])
        self.assertEqual([n["operationId"] for n in models["notCovered"]], ["Gone_Create"])

    def test_a_git_checkout_records_its_head(self):
        git = ["git", "-C", self.root, "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run(["git", "init", "-q", self.root], check=True)
        subprocess.run(git + ["add", "."], check=True)
        subprocess.run(git + ["commit", "-qm", "specs"], check=True)
        head = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
        with open(self.ops, "w", encoding="utf-8") as f:
            json.dump({"operations": OPERATIONS["operations"][:2]}, f)
        models = self.run_extract()
        self.assertEqual(models["specCommit"], head)
        self.assertEqual(models["operations"][0]["source"]["commit"], head)

    def test_the_model_keeps_what_validation_needs(self):
        models = self.run_extract("--provenance", self.provenance())
        defs = models["definitions"]
        things = models["operations"][0]
        self.assertEqual((things["method"], things["path"]), ("PUT", "/{scope}/providers/Test.RP/things/{name}"))
        self.assertEqual(things["multiSegmentParams"], ["scope"])
        thing = defs[things["body"]["$ref"]]
        # allOf across files: the parent's readOnly members are the model's own.
        self.assertEqual(thing["properties"]["id"], {"type": "string", "readOnly": True})
        self.assertEqual(thing["required"], ["properties"])
        self.assertEqual(thing["properties"]["tags"]["additionalProperties"], {"type": "string"})
        system = defs[thing["properties"]["systemData"]["$ref"]]
        self.assertTrue(system["readOnly"])
        props = defs[thing["properties"]["properties"]["$ref"]]
        self.assertEqual(props["properties"]["mode"], {"type": "string", "enum": ["On", "Off"], "modelAsString": True})
        self.assertTrue(props["properties"]["state"]["readOnly"])
        self.assertIs(props["properties"]["anything"]["additionalProperties"], True)
        shape = defs[props["properties"]["shapes"]["items"]["$ref"]]
        self.assertEqual(shape["discriminator"], "kind")
        circle = defs[shape["variants"]["circle"]["$ref"]]
        self.assertEqual(set(circle["properties"]), {"kind", "radius"})
        self.assertFalse(any(k.endswith("#Unused") for k in defs))

    def test_the_wrapped_body_exception_is_modelled_and_noted(self):
        models = self.run_extract("--provenance", self.provenance())
        review = models["operations"][1]
        self.assertEqual(review["exception"], "the examples wrap the body")
        self.assertEqual(review["body"]["required"], ["properties"])
        inner = models["definitions"][review["body"]["properties"]["properties"]["$ref"]]
        self.assertEqual(list(inner["properties"]), ["displayName"])


class CommittedModelsTest(unittest.TestCase):
    def test_every_operation_with_a_body_is_modelled_or_listed_as_not_covered(self):
        with open(os.path.join(HERE, "operations.json"), encoding="utf-8") as f:
            wanted = {(o["operationId"], o["provider"], o["apiVersion"]) for o in json.load(f)["operations"]}
        with open(os.path.join(HERE, "..", "..", "azure-sim", "conformance", "models.json"), encoding="utf-8") as f:
            models = json.load(f)
        have = {(o["operationId"], o["provider"], o["apiVersion"]) for o in models["operations"]}
        missing = {(o["operationId"], o["provider"], o["apiVersion"]) for o in models["notCovered"]}
        self.assertEqual(have | missing, wanted)
        self.assertFalse(have & missing)


if __name__ == "__main__":
    unittest.main()
