using System.Text.Json;
using System.Text.Json.Serialization;

namespace Uncertainty.Api.OpenInference;

/// <summary>POST /v2/models/{name}/infer body (Open Inference Protocol v2).</summary>
/// <param name="Id">Echoed in the response.</param>
/// <param name="Parameters">samples, seed (0 to 2^53-1), tolerance, interval_level, mode (mc), interval (gaussian).</param>
/// <param name="Inputs">The input tensors: 'input' [N, ...the model's input shape], or one tensor per feature for a tabular model.</param>
/// <param name="Outputs">The outputs to return; omitted, every output of the model.</param>
public sealed record InferRequest(string? Id, Dictionary<string, JsonElement>? Parameters, InferRequestInput[]? Inputs, InferRequestOutput[]? Outputs);

/// <summary>An input tensor.</summary>
/// <param name="Name">'input', or a feature name.</param>
/// <param name="Shape">Sizes, the batch (rows) first.</param>
/// <param name="Datatype">FP32, FP64, INT32, INT64 or BYTES (texts).</param>
/// <param name="Parameters">Not used; must be empty.</param>
/// <param name="Data">The elements, flat in row-major order or nested as the shape.</param>
public sealed record InferRequestInput(string? Name, long[]? Shape, string? Datatype, Dictionary<string, JsonElement>? Parameters, JsonElement Data);

/// <summary>An output to return.</summary>
/// <param name="Name">mean, epistemic_variance, standard_error (the Monte Carlo standard error of each mean; left out when T = 1 or deterministic), aleatoric_variance, predictive_variance, std, interval_lower, interval_upper; for classifiers probabilities, probability_std, label, entropy, expected_entropy, mutual_information, variation_ratio.</param>
/// <param name="Parameters">Only binary_data: false is accepted.</param>
public sealed record InferRequestOutput(string? Name, Dictionary<string, JsonElement>? Parameters);

/// <summary>The answer to an inference request.</summary>
/// <param name="ModelName">The model that answered.</param>
/// <param name="ModelVersion">The version that computed the numbers.</param>
/// <param name="Id">The request's id, when it had one.</param>
/// <param name="Parameters">samples (passes made) and seed (send it back for the same numbers).</param>
/// <param name="Outputs">The output tensors.</param>
public sealed record InferResponse(
    [property: JsonPropertyName("model_name")] string ModelName,
    [property: JsonPropertyName("model_version")] string ModelVersion,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Id,
    IReadOnlyDictionary<string, object> Parameters,
    IReadOnlyList<InferResponseOutput> Outputs);

/// <summary>An output tensor: FP64 numbers, or BYTES strings for label.</summary>
/// <param name="Name">The output's name.</param>
/// <param name="Datatype">FP64 or BYTES.</param>
/// <param name="Shape">[N, outputs] for per-output values, [N] for one value per row.</param>
/// <param name="Data">The elements, flat in row-major order.</param>
public sealed record InferResponseOutput(string Name, string Datatype, long[] Shape, object Data);

/// <summary>The protocol's error body.</summary>
/// <param name="Error">What went wrong, naming the field.</param>
public sealed record InferError(string Error);

/// <summary>GET /v2/health/live.</summary>
/// <param name="Live">The server takes requests.</param>
public sealed record LiveResponse(bool Live);

/// <summary>GET /v2/health/ready and model readiness.</summary>
/// <param name="Ready">Ready to infer (200); 503 with false otherwise.</param>
public sealed record ReadyResponse(bool Ready);
