using System.Globalization;
using Microsoft.AspNetCore.OpenApi;
using Uncertainty.Api.Predictions;

namespace Uncertainty.Api.OpenApi;

/// <summary>
/// Every seed (a ulong property or query parameter named seed) as the document's integer range 0..2^53 - 1 in int64:
/// generators know int64 (Kiota's C# turns the bare uint64 into int and throws on larger values), and
/// JavaScript clients read every value in the range exactly.
/// </summary>
public static class SeedSchemas
{
    private const string Name = "seed";

    /// <summary>Adds the schema transformer that gives every seed its int64 range 0..2^53 - 1.</summary>
    public static OpenApiOptions AddSeedSchemas(this OpenApiOptions options) =>
        options.AddSchemaTransformer((schema, context, _) =>
        {
            if (IsSeed(context))
            {
                schema.Format = "int64";
                schema.Minimum = "0";
                schema.Maximum = Seeds.Max.ToString(CultureInfo.InvariantCulture);
            }

            return Task.CompletedTask;
        });

    private static bool IsSeed(OpenApiSchemaTransformerContext context) =>
        context.JsonTypeInfo.Type is var type && (type == typeof(ulong) || type == typeof(ulong?))
        && (context.JsonPropertyInfo is { Name: Name } || context.ParameterDescription is { Name: Name });
}
