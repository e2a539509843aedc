using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Uncertainty.Api.OpenInference.Grpc;
using Uncertainty.Api.Predictions;
using Uncertainty.Api.Security;

namespace Uncertainty.Api.OpenInference;

/// <summary>
/// The Open Inference Protocol v2 ("KServe v2") over REST under /v2, and its gRPC service, so KServe, Triton and MLServer
/// clients call the service unchanged. Errors under /v2 are the protocol's <c>{"error": "..."}</c> with the statuses
/// <see cref="Problems.ProblemMap"/> gives (<see cref="OpenInferenceErrors"/>).
/// </summary>
public static class OpenInferenceApi
{
    public static IServiceCollection AddOpenInference(this IServiceCollection services)
    {
        services.AddSingleton<OpenInferenceService>();
        // First in line, so every problem under /v2 (exceptions, keys, rate limits, unknown routes) is written the protocol's way.
        services.Insert(0, ServiceDescriptor.Singleton<IProblemDetailsWriter, OpenInferenceErrors>());
        services.AddGrpc().AddServiceOptions<OpenInferenceGrpcService>(grpc => grpc.Interceptors.Add<OpenInferenceGrpcErrors>());
        return services;
    }

    public static IEndpointRouteBuilder MapOpenInferenceApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v2").WithTags("Open Inference Protocol (v2)");
        group.MapGet("", GetServerMetadata)
            .WithName("OipServerMetadata")
            .WithSummary("The server's name, version and protocol extensions.")
            .WithDescription("Open Inference Protocol v2 server metadata.");
        group.MapGet("/health/live", Live)
            .WithName("OipServerLive")
            .WithSummary("The process is up.")
            .WithDescription("Open Inference Protocol v2 liveness: always 200 while the process answers.");
        group.MapGet("/health/ready", Ready)
            .WithName("OipServerReady")
            .WithSummary("Ready to infer: 200 exactly when GET /health/ready is 200; 503 while starting or draining.")
            .WithDescription("Open Inference Protocol v2 readiness, from the same state as /health/ready.")
            .Produces<ReadyResponse>(StatusCodes.Status200OK)
            .Produces<ReadyResponse>(StatusCodes.Status503ServiceUnavailable);

        var models = group.MapGroup("/models/{name}").ProducesErrors(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable);
        models.MapGet("", GetModelMetadata)
            .WithName("OipModelMetadata")
            .WithSummary("A model's versions, platform and named input and output tensors (datatype, shape; -1 is the batch dimension).")
            .WithDescription("Open Inference Protocol v2 model metadata for the default version.");
        models.MapGet("/versions/{version}", GetModelVersionMetadata)
            .WithName("OipModelVersionMetadata")
            .WithSummary("One version's metadata.")
            .WithDescription("Open Inference Protocol v2 model metadata for one version.");
        models.MapGet("/ready", ModelReady)
            .WithName("OipModelReady")
            .WithSummary("200 when the server is ready and the model's default version has not failed to load; 503 otherwise.")
            .WithDescription("Open Inference Protocol v2 model readiness.")
            .Produces<ReadyResponse>(StatusCodes.Status200OK)
            .Produces<ReadyResponse>(StatusCodes.Status503ServiceUnavailable);
        models.MapGet("/versions/{version}/ready", ModelVersionReady)
            .WithName("OipModelVersionReady")
            .WithSummary("200 when the server is ready and this version has not failed to load; 503 otherwise.")
            .WithDescription("Open Inference Protocol v2 model version readiness.")
            .Produces<ReadyResponse>(StatusCodes.Status200OK)
            .Produces<ReadyResponse>(StatusCodes.Status503ServiceUnavailable);

        var infer = models.MapGroup("").RequireInferenceScope()
            .ProducesErrors(StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status504GatewayTimeout);
        infer.MapPost("/infer", Infer)
            .Accepts<InferRequest>("application/json", "*/*") // any content type is read as JSON
            .WithName("OipInfer")
            .WithSummary("Infer with the model's default version: named tensors in, MC dropout mean, variances, interval and (classifiers) probabilities, label, entropy and mutual information out.")
            .WithDescription("Open Inference Protocol v2 inference, through the same prediction path, limits and keys as POST /models/{name}/predict.");
        infer.MapPost("/versions/{version}/infer", InferVersion)
            .Accepts<InferRequest>("application/json", "*/*") // any content type is read as JSON
            .WithName("OipInferVersion")
            .WithSummary("Infer with one version of the model.")
            .WithDescription("Open Inference Protocol v2 inference with a given version.");

        app.MapGrpcService<OpenInferenceGrpcService>();
        return app;
    }

    public static Ok<ServerMetadata> GetServerMetadata() => TypedResults.Ok(OpenInferenceService.Server);

    public static Ok<LiveResponse> Live() => TypedResults.Ok(new LiveResponse(true));

    public static JsonHttpResult<ReadyResponse> Ready(OpenInferenceService inference) => Readiness(inference.Ready);

    /// <param name="name">The model.</param>
    /// <param name="inference">The protocol's service.</param>
    public static Ok<ModelMetadata> GetModelMetadata(string name, OpenInferenceService inference) => TypedResults.Ok(inference.Metadata(name, null));

    /// <param name="name">The model.</param>
    /// <param name="version">A version number.</param>
    /// <param name="inference">The protocol's service.</param>
    public static Ok<ModelMetadata> GetModelVersionMetadata(string name, string version, OpenInferenceService inference) => TypedResults.Ok(inference.Metadata(name, version));

    /// <param name="name">The model.</param>
    /// <param name="inference">The protocol's service.</param>
    public static JsonHttpResult<ReadyResponse> ModelReady(string name, OpenInferenceService inference) => Readiness(inference.ModelReady(name, null));

    /// <param name="name">The model.</param>
    /// <param name="version">A version number.</param>
    /// <param name="inference">The protocol's service.</param>
    public static JsonHttpResult<ReadyResponse> ModelVersionReady(string name, string version, OpenInferenceService inference) => Readiness(inference.ModelReady(name, version));

    /// <param name="name">The model.</param>
    /// <param name="http">The request; its body is an <see cref="InferRequest"/>.</param>
    /// <param name="inference">The protocol's service.</param>
    /// <param name="cancellationToken">The request's.</param>
    public static Task<Ok<InferResponse>> Infer(string name, HttpRequest http, OpenInferenceService inference, CancellationToken cancellationToken) =>
        InferAsync(name, null, http, inference, cancellationToken);

    /// <param name="name">The model.</param>
    /// <param name="version">A version number.</param>
    /// <param name="http">The request; its body is an <see cref="InferRequest"/>.</param>
    /// <param name="inference">The protocol's service.</param>
    /// <param name="cancellationToken">The request's.</param>
    public static Task<Ok<InferResponse>> InferVersion(string name, string version, HttpRequest http, OpenInferenceService inference, CancellationToken cancellationToken) =>
        InferAsync(name, version, http, inference, cancellationToken);

    private static async Task<Ok<InferResponse>> InferAsync(string name, string? version, HttpRequest http, OpenInferenceService inference, CancellationToken cancellationToken)
    {
        // Read as JSON whatever the content type says: KServe's and Triton's clients, and curl -d, do not all send application/json.
        var request = await JsonSerializer.DeserializeAsync<InferRequest>(http.Body, RequestBodies.JsonOptions(http), cancellationToken)
            ?? new InferRequest(null, null, null, null);
        var result = await inference.InferAsync(name, version, Decode(request), cancellationToken);
        return TypedResults.Ok(new InferResponse(
            result.ModelName,
            result.ModelVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
            result.Id,
            new Dictionary<string, object> { ["samples"] = result.Samples, ["seed"] = result.Seed },
            [.. result.Outputs.Select(output => new InferResponseOutput(output.Name, output.Datatype, output.Shape, (object?)output.Numbers ?? output.Strings!))]));
    }

    private static JsonHttpResult<ReadyResponse> Readiness(bool ready) =>
        TypedResults.Json(new ReadyResponse(ready), statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);

    /// <summary>The JSON body as the protocol's tensors; every problem is keyed by its field (inputs[0].data[5]).</summary>
    internal static InferCall Decode(InferRequest request)
    {
        var errors = new Dictionary<string, string[]>();
        var parameters = Parameters(request.Parameters, "parameters", errors);
        var inputs = new List<InferInput>();
        foreach (var (tensor, i) in (request.Inputs ?? []).Select((tensor, i) => (tensor, i)))
        {
            var field = $"inputs[{i}]";
            if (tensor is null)
            {
                errors[field] = ["An input tensor is an object with name, shape, datatype and data."];
                continue;
            }

            var datatype = tensor.Datatype ?? "";
            var (numbers, strings) = Elements(tensor.Data, datatype, $"{field}.data", errors);
            var input = new InferInput(field, tensor.Name ?? "", datatype, tensor.Shape ?? [], numbers, strings, Parameters(tensor.Parameters, $"{field}.parameters", errors));
            InferInputs.Check(input, numbers?.Length ?? strings?.Length ?? 0, errors);
            inputs.Add(input);
        }

        var outputs = (request.Outputs ?? []).Select((output, i) => new InferRequestedOutput(output?.Name ?? "", Parameters(output?.Parameters, $"outputs[{i}].parameters", errors))).ToList();
        return errors.Count > 0 ? throw new Problems.RequestValidationException(errors) : new InferCall(request.Id, parameters, inputs, outputs);
    }

    /// <summary>JSON parameter values as the protocol's: bool, int64 (a whole number), double or string.</summary>
    private static Dictionary<string, object> Parameters(Dictionary<string, JsonElement>? parameters, string field, Dictionary<string, string[]> errors) =>
        InferInputs.Parameters(
            (parameters ?? []).Select(parameter => KeyValuePair.Create(parameter.Key, parameter.Value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                JsonValueKind.Number when parameter.Value.TryGetInt64(out var whole) => whole,
                JsonValueKind.Number when parameter.Value.TryGetDouble(out var number) && double.IsFinite(number) => number,
                JsonValueKind.String when PredictRequestValidator.TryGetString(parameter.Value, out var text) => text,
                _ => (object?)null,
            })),
            field,
            "A parameter is a boolean, a number or a string.",
            errors);

    /// <summary>The data of one tensor, flat or nested, as numbers (FP32, FP64, INT32, INT64) or strings (BYTES).</summary>
    private static (double[]? Numbers, string[]? Strings) Elements(JsonElement data, string datatype, string field, Dictionary<string, string[]> errors)
    {
        var flat = new List<JsonElement>();
        Flatten(data, flat);
        if (data.ValueKind != JsonValueKind.Array)
        {
            errors[field] = ["data is an array of the tensor's elements, flat (row-major) or nested as its shape."];
            return (null, null);
        }

        if (datatype == InferDatatypes.Bytes)
        {
            var strings = new string[flat.Count];
            for (int k = 0; k < flat.Count; k++)
            {
                if (flat[k].ValueKind != JsonValueKind.String || !PredictRequestValidator.TryGetString(flat[k], out strings[k]))
                {
                    errors[$"{field}[{k}]"] = ["BYTES elements are strings of valid Unicode."];
                    return (null, null);
                }
            }

            return (null, strings);
        }

        bool whole = datatype is InferDatatypes.Int32Type or InferDatatypes.Int64Type;
        var numbers = new double[flat.Count];
        for (int k = 0; k < flat.Count; k++)
        {
            if (flat[k].ValueKind != JsonValueKind.Number || !flat[k].TryGetDouble(out numbers[k]) || (whole && !flat[k].TryGetInt64(out _)))
            {
                errors[$"{field}[{k}]"] = [$"{(datatype.Length > 0 ? datatype : "Numeric")} elements are {(whole ? "whole " : "")}numbers, not {flat[k].ValueKind.ToString().ToLowerInvariant()}."];
                return (null, null);
            }
        }

        return (numbers, null);
    }

    private static void Flatten(JsonElement element, List<JsonElement> flat)
    {
        if (element.ValueKind != JsonValueKind.Array)
        {
            flat.Add(element);
            return;
        }

        foreach (var item in element.EnumerateArray())
        {
            Flatten(item, flat);
        }
    }

    /// <summary>OpenAPI: the statuses an endpoint can answer, all with the protocol's error body.</summary>
    private static TBuilder ProducesErrors<TBuilder>(this TBuilder builder, params int[] statuses)
        where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statuses)
        {
            builder.WithMetadata(new ProducesResponseTypeAttribute(typeof(InferError), status, "application/json"));
        }

        return builder;
    }
}
