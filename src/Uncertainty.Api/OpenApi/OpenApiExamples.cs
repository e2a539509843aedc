using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Uncertainty.Api.Security;

namespace Uncertainty.Api.OpenApi;

/// <summary>Request and response examples for Swagger UI, and the X-Api-Key scheme behind its Authorize button.</summary>
public static class OpenApiExamples
{
    private const string BostonRow = "[0.00632, 18.0, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98]";

    private const string PredictRequest = $$"""{"inputs": [{{BostonRow}}], "samples": 100, "seed": 42, "intervalLevel": 0.95}""";

    private const string PredictByName = """
        {"inputs": [{"crim": 0.00632, "zn": 18.0, "indus": 2.31, "chas": 0, "nox": 0.538, "rm": 6.575, "age": 65.2,
                     "dis": 4.09, "rad": 1, "tax": 296, "ptratio": 15.3, "b": 396.9, "lstat": 4.98}],
         "samples": 100, "seed": 42}
        """;

    private const string PredictResponse = """
        {"model": "boston", "version": 1, "samples": 100, "seed": 42,
         "predictions": [{"mean": [27.44], "epistemicVariance": [1.49], "aleatoricVariance": [6.67], "predictiveVariance": [8.15],
                          "std": [2.86], "interval": {"level": 0.95, "lower": [21.85], "upper": [33.04]}}]}
        """;

    private const string TrainingRequest = """
        {"model": "boston-small", "dataset": "boston", "target": "medv",
         "network": {"hidden": [50], "hiddenDropout": [0.05], "inputDropout": 0.05, "tau": 1.0},
         "training": {"epochs": 400, "batchSize": 32, "optimizer": "adam", "learningRate": 0.001, "validationFraction": 0.1, "patience": 50, "seed": 1},
         "makeDefault": false}
        """;

    private const string TrainingJob = """
        {"id": "019ac1d2e3f44a5b8c6d7e8f90a1b2c3", "model": "boston-small", "state": "running", "data": "boston", "rows": 506,
         "createdAt": "2026-11-26T12:00:00+00:00", "startedAt": "2026-11-26T12:00:00+00:00", "epoch": 120, "epochs": 400,
         "trainLoss": 0.21, "validationLoss": 0.25, "validationMetric": 3.1, "metricName": "rmse", "elapsedSeconds": 3.2, "etaSeconds": 7.5,
         "history": [{"epoch": 1, "trainLoss": 0.95, "validationLoss": 0.9, "validationMetric": 8.4}], "madeDefault": false, "cancelRequested": false}
        """;

    private static readonly Dictionary<string, (string[] Requests, string? Response)> ByOperation = new(StringComparer.Ordinal)
    {
        ["Predict"] = ([PredictRequest, PredictByName], PredictResponse),
        ["PredictWithModel"] = ([PredictRequest, PredictByName], PredictResponse),
        ["PredictWithModelVersion"] = ([PredictRequest], PredictResponse),
        ["SubmitTrainingJob"] = ([TrainingRequest], TrainingJob),
        ["GetTrainingJob"] = ([], TrainingJob),
        ["EvaluateModel"] = (["""{"dataset": "boston", "rows": "heldOut", "samples": 100, "seed": 0}""", """{"inputs": [[0.1], [0.5]], "targets": [0.3, 1.0], "samples": 100}"""], null),
        ["SetDefaultVersion"] = (["""{"version": 2}"""], null),
    };

    public static OpenApiOptions AddUncertaintyExamples(this OpenApiOptions options)
    {
        options.AddOperationTransformer((operation, context, _) =>
        {
            if (operation.OperationId is { } id && ByOperation.TryGetValue(id, out var examples))
            {
                if (operation.RequestBody?.Content?.TryGetValue("application/json", out var body) == true && examples.Requests.Length > 0)
                {
                    body.Examples = examples.Requests.Select((json, i) => (json, i)).ToDictionary(
                        e => e.i == 0 ? "rows" : "alternative",
                        e => (IOpenApiExample)new OpenApiExample { Value = JsonNode.Parse(e.json) });
                }

                var success = operation.Responses?.FirstOrDefault(r => r.Key.StartsWith('2')).Value;
                if (examples.Response is { } response && success?.Content?.TryGetValue("application/json", out var content) == true)
                {
                    content.Example = JsonNode.Parse(response);
                }
            }

            return Task.CompletedTask;
        });
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["ApiKey"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = ApiKeys.Header,
                Description = "With keys configured: an administration key (Uncertainty:ApiKeys) for endpoints that change state; an administration or inference key (Uncertainty:InferenceApiKeys) for evaluation, and for predictions with RequireApiKeyForInference.",
            };
            return Task.CompletedTask;
        });

        // The requirement goes only on operations whose endpoint has an authorization policy.
        options.AddOperationTransformer((operation, context, _) =>
        {
            if (context.Description.ActionDescriptor.EndpointMetadata.OfType<Microsoft.AspNetCore.Authorization.IAuthorizeData>().Any())
            {
                operation.Security ??= [];
                operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("ApiKey", context.Document)] = [] });
            }

            return Task.CompletedTask;
        });
        return options;
    }
}
