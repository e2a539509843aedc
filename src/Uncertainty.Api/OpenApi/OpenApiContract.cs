using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Uncertainty.Api.OpenApi;

/// <summary>
/// What the generated document does not say by itself: the service's description and tags, the statuses every operation can
/// answer from middleware (401/403 with keys, 413 for bodies, 429 from the rate limiter), Retry-After on 429 and 503,
/// Location on 201 and 202, the fields of a problem, and which strings each enum accepts.
/// </summary>
public static class OpenApiContract
{
    private static readonly Dictionary<string, string> TagDescriptions = new(StringComparer.Ordinal)
    {
        ["Predictions"] = "MC dropout predictions with epistemic and aleatoric uncertainty: rows, pictures and forecasts.",
        ["Models"] = "The model store: models, versions, default versions, imports of PyTorch weights and evaluation.",
        ["Training"] = "Training jobs that train a dropout network in the background and store it as a new model version.",
        ["Health"] = "Liveness and readiness probes.",
        ["Open Inference Protocol (v2)"] = "KServe's Open Inference Protocol v2 over REST: health, metadata and inference with named tensors; the same models and numbers as /predict (docs/open-inference.md).",
    };

    private static readonly string[] ProblemSchemas = ["ProblemDetails", "HttpValidationProblemDetails"];

    private static readonly Dictionary<string, string> ProblemFields = new(StringComparer.Ordinal)
    {
        ["type"] = "A URI reference that identifies the problem type (RFC 9457).",
        ["title"] = "A short summary of the problem type.",
        ["status"] = "The HTTP status code.",
        ["detail"] = "What went wrong with this request, in words meant for the client.",
        ["instance"] = "A URI reference that identifies this occurrence of the problem.",
        ["errors"] = "Per field (its JSON path, e.g. 'training.epochs', or a parameter name): what is wrong with it.",
    };

    public static OpenApiOptions AddUncertaintyContract(this OpenApiOptions options)
    {
        options.AddSchemaTransformer((schema, context, _) =>
        {
            // Rows are arrays or objects (text models: strings), targets numbers or labels: JsonElement says nothing by itself.
            if (context.JsonPropertyInfo?.PropertyType == typeof(System.Text.Json.JsonElement[]))
            {
                schema.Items ??= context.JsonPropertyInfo.Name == "targets"
                    ? new OpenApiSchema { Type = JsonSchemaType.Number | JsonSchemaType.String, Description = "A number (regression) or a class label (classification)." }
                    : new OpenApiSchema { Description = "One row: an array of values in the model's feature order, an object keyed by feature name, or a string for a text model." };
            }

            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            operation.Responses ??= [];
            var path = context.Description.RelativePath ?? "";
            var metadata = context.Description.ActionDescriptor.EndpointMetadata;
            if (metadata.OfType<IAuthorizeData>().Any())
            {
                AddProblem(operation, context.Document, StatusCodes.Status401Unauthorized, "An API key is required (X-Api-Key) and was not sent.");
                AddProblem(operation, context.Document, StatusCodes.Status403Forbidden, "The key does not have the scope this operation needs.");
            }

            if (!path.StartsWith("health", StringComparison.Ordinal))
            {
                AddProblem(operation, context.Document, StatusCodes.Status429TooManyRequests, "Too many requests: the client's rate limit or a queue is full; retry after Retry-After seconds.");
            }

            if (operation.RequestBody is not null)
            {
                AddProblem(operation, context.Document, StatusCodes.Status413PayloadTooLarge, "The body is over this endpoint's size limit.");
            }

            foreach (var (status, response) in operation.Responses)
            {
                if (response is not OpenApiResponse concrete)
                {
                    continue;
                }

                if (status is "429" or "503" && !path.StartsWith("health", StringComparison.Ordinal))
                {
                    concrete.Headers ??= new Dictionary<string, IOpenApiHeader>();
                    concrete.Headers["Retry-After"] = new OpenApiHeader
                    {
                        Description = status == "429" ? "Seconds to wait before retrying." : "Seconds to wait before retrying (absent when retrying will not help until an operator acts).",
                        Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1" },
                    };
                }

                if (status is "201" or "202")
                {
                    concrete.Headers ??= new Dictionary<string, IOpenApiHeader>();
                    concrete.Headers["Location"] = new OpenApiHeader
                    {
                        Description = status == "202" ? "The training job's URL, to poll with GET." : "The created resource's URL.",
                        Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "uri-reference" },
                    };
                }
            }

            return Task.CompletedTask;
        });
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Uncertainty";
            document.Info.Description = "Predictions with uncertainty from MC dropout networks (Gal and Ghahramani 2016): each answer carries the mean, "
                + "the epistemic (model) and aleatoric (data) variance and predictive intervals. Errors are RFC 9457 problem documents; "
                + "a 400 names each wrong field by its JSON path in 'errors'. Enums are camelCase strings; fields a body does not have are refused.";
            foreach (var server in document.Servers ?? [])
            {
                server.Url = server.Url?.TrimEnd('/');
            }

            // Anonymous by default (probes, listings); operations that take a key say so themselves (OpenApiExamples).
            document.Security ??= [];
            document.Security.Add(new OpenApiSecurityRequirement());
            foreach (var tag in document.Tags ?? new HashSet<OpenApiTag>())
            {
                if (tag.Name is { } name && TagDescriptions.TryGetValue(name, out var description))
                {
                    tag.Description = description;
                }
            }

            // After the XML comments are applied (they would replace it): which strings an enum takes.
            foreach (var schema in (document.Components?.Schemas?.Values ?? []).OfType<OpenApiSchema>().Where(s => s.Enum is { Count: > 0 }))
            {
                var values = string.Join(", ", schema.Enum!.Select(v => v is System.Text.Json.Nodes.JsonValue value && value.TryGetValue<string>(out var text) ? $"'{text}'" : null).OfType<string>());
                var accepted = $"One of the strings {values}; numbers are refused.";
                schema.Description = schema.Description is { Length: > 0 } described ? $"{described} {accepted}" : accepted;
            }

            foreach (var name in ProblemSchemas)
            {
                if (document.Components?.Schemas?.TryGetValue(name, out var schema) == true && schema is OpenApiSchema problem)
                {
                    problem.Description = name == "ProblemDetails"
                        ? "An RFC 9457 problem document: what went wrong, for every 4xx and 5xx."
                        : "An RFC 9457 problem document for a request that is not valid, with the wrong fields in 'errors'.";
                    foreach (var (field, property) in problem.Properties ?? new Dictionary<string, IOpenApiSchema>())
                    {
                        if (property is OpenApiSchema concrete && ProblemFields.TryGetValue(field, out var text))
                        {
                            concrete.Description = text;
                        }
                    }
                }
            }

            return Task.CompletedTask;
        });
        return options;
    }

    private static void AddProblem(OpenApiOperation operation, OpenApiDocument? document, int status, string description)
    {
        var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (operation.Responses!.ContainsKey(key))
        {
            return;
        }

        operation.Responses[key] = new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["application/problem+json"] = new OpenApiMediaType { Schema = new OpenApiSchemaReference("ProblemDetails", document) },
            },
        };
    }
}
