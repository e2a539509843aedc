using System.Text.Json;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Uncertainty.Api.OpenApi;

/// <summary>
/// Enums written as names get <c>type: string</c> beside their <c>enum</c> list, which the generator leaves out:
/// without it NSwag's System.Text.Json clients read and write them as integers, which the service refuses.
/// </summary>
public static class StringEnumSchemas
{
    /// <summary>Adds the schema transformer that types enums of names as strings.</summary>
    public static OpenApiOptions AddStringEnumSchemas(this OpenApiOptions options) =>
        options.AddSchemaTransformer((schema, _, _) =>
        {
            // The generator lists null among an enum's names when some property holds it as nullable; such properties
            // already say "oneOf: [null, the enum]", so the shared enum schema keeps only its names (a null in both
            // would make the oneOf ambiguous, which the linters flag).
            if (schema.Type is null && schema.Enum is { Count: > 0 } values
                && values.All(value => value is null || value.GetValueKind() == JsonValueKind.String) && values.Any(value => value is not null))
            {
                schema.Enum = [.. values.Where(value => value is not null)];
                schema.Type = JsonSchemaType.String;
            }

            return Task.CompletedTask;
        });
}
