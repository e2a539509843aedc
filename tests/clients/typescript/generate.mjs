// Types for the service from its OpenAPI document (node generate.mjs DOCUMENT.json), with openapi-typescript's
// documented transform for file uploads: `format: binary` becomes Blob (FormData's file type), not string.
import fs from "node:fs";
import { pathToFileURL } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";

const blob = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier("Blob"));
const ast = await openapiTS(pathToFileURL(process.argv[2]), {
  // A property with a default may be left out of a request.
  defaultNonNullable: false,
  transform(schema) {
    if (schema.format === "binary") {
      return blob;
    }
  },
});
fs.mkdirSync("generated", { recursive: true });
fs.writeFileSync("generated/api.d.ts", astToString(ast));
