using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Health;
using Uncertainty.Api.Hosting;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Models;
using Uncertainty.Api.Predictions;
using Uncertainty.Api.Problems;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.OpenInference;

/// <summary>
/// The Open Inference Protocol v2 over the service, shared by REST and gRPC: tensors become a <see cref="PredictRequest"/>
/// for <see cref="PredictionService"/> (the one prediction path: same validation, limits, batching, version resolution)
/// and its rows become named output tensors with exactly the numbers <c>/predict</c> returns.
/// </summary>
public sealed class OpenInferenceService(
    PredictionService predictions,
    ModelRegistry registry,
    ModelStore store,
    ServiceState state,
    InferenceScheduler scheduler)
{
    /// <summary>The single input tensor's name (tabular, image, sequence and text models alike).</summary>
    public const string InputName = "input";

    /// <summary>What runs the models, as model metadata reports it.</summary>
    public const string Platform = "torchsharp_mc_dropout";

    // Seeds the service draws itself stay below 2^53, so a JSON client (and an int64 gRPC parameter) can send the seed back exactly.
    internal const long MaxSeed = (long)Seeds.Max;

    private static readonly string[] RegressionOutputs = ["mean", "epistemic_variance", "aleatoric_variance", "predictive_variance", "std", "standard_error", "interval_lower", "interval_upper"];
    private static readonly string[] ClassifierOutputs = ["mean", "epistemic_variance", "standard_error", "probabilities", "probability_std", "label", "entropy", "expected_entropy", "mutual_information", "variation_ratio"];
    private static readonly HashSet<string> PerRowOutputs = ["label", "entropy", "expected_entropy", "mutual_information", "variation_ratio"];

    /// <summary>Name, version and the protocol extensions served ("parameters": request parameters steer the prediction).</summary>
    public static ServerMetadata Server { get; } = new(
        "uncertainty",
        typeof(OpenInferenceService).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
        ["parameters"]);

    /// <summary>Ready exactly when <c>GET /health/ready</c> answers 200.</summary>
    public bool Ready => ServiceHealthCheck.Check(state, scheduler).Status == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy;

    /// <summary>The server is ready and the version's last load (if any) did not fail; 400/404 for an unknown model or version.</summary>
    public bool ModelReady(string name, string? version)
    {
        var resolved = registry.Resolve(name, ParseVersion(name, version));
        return Ready && registry.FailureOf(name, resolved) is null;
    }

    public ModelMetadata Metadata(string name, string? version)
    {
        var resolved = registry.Resolve(name, ParseVersion(name, version));
        var model = Description(name, resolved);
        return new ModelMetadata(
            name,
            [.. store.Versions(name).Select(v => v.ToString(CultureInfo.InvariantCulture))],
            Platform,
            [InputOf(model)],
            [.. OutputNames(model).Select(output => new TensorMetadata(output, output == "label" ? InferDatatypes.Bytes : InferDatatypes.Fp64, PerRowOutputs.Contains(output) ? [-1] : [-1, model.Network.Head.Outputs]))]);
    }

    public async Task<InferResult> InferAsync(string name, string? version, InferCall call, CancellationToken cancellationToken)
    {
        // Pinned once: the lease keeps this version loaded, and the prediction runs on exactly it.
        using var lease = await predictions.AcquireAsync(name, ParseVersion(name, version), cancellationToken);
        var model = lease.Version.Description;
        var outputs = SelectOutputs(model, call.Outputs);
        var request = ToPredictRequest(Rows(model, call.Inputs), call.Parameters);
        ServedPrediction served;
        try
        {
            served = await predictions.PredictAsync(name, lease.Version.Version, request, cancellationToken);
        }
        catch (RequestValidationException e) when (e.Errors.Keys.Any(key => key.StartsWith("inputs[", StringComparison.Ordinal) || ParameterFields.ContainsKey(key)))
        {
            // The validator speaks of /predict's rows (inputs[r]) and fields (intervalLevel); here inputs are tensors, so say
            // "row r" instead, and options are request parameters (parameters.interval_level).
            throw new RequestValidationException(e.Errors.ToDictionary(error => RowField(error.Key), error => error.Value));
        }

        var level = request.IntervalLevel ?? PredictionsApi.DefaultIntervalLevel;
        var rows = served.Prediction.Rows.Select(row => PredictionsApi.ToResult(row, level, request.Interval ?? IntervalMethod.Gaussian, served.Model.Description.OutputNames)).ToList();
        return new InferResult(served.Model.Name, served.Model.Version, call.Id, served.Prediction.SamplesUsed, served.Seed, [.. outputs
            .Where(output => output != "standard_error" || rows.All(row => row.StandardError is not null)) // none when T = 1 or deterministic
            .Select(output => Output(output, rows, model.Network.Head.Outputs))]);
    }

    /// <summary>
    /// The one translation of request parameters into a <see cref="PredictRequest"/>, for REST and gRPC alike: samples,
    /// seed (0 to 2^53-1; drawn when absent), tolerance, interval_level, mode and interval. Any other name is a 400.
    /// </summary>
    internal static PredictRequest ToPredictRequest(JsonElement[] rows, IReadOnlyDictionary<string, object> parameters)
    {
        var request = new PredictRequest(rows, Seed: Seeds.Fresh());
        var errors = new Dictionary<string, string[]>();
        foreach (var (key, value) in parameters)
        {
            var field = $"parameters.{key}";
            switch (key)
            {
                case "samples":
                    request = request with { Samples = Integer(field, value, 1, int.MaxValue, errors) is { } samples ? (int)samples : null };
                    break;
                case "seed":
                    request = request with { Seed = Integer(field, value, 0, MaxSeed, errors) is { } seed ? (ulong)seed : null };
                    break;
                case "tolerance":
                    request = request with { Tolerance = Number(field, value, errors) };
                    break;
                case "interval_level":
                    request = request with { IntervalLevel = Number(field, value, errors) };
                    break;
                case "mode":
                    request = request with { Mode = Choice(field, value, ["mc", "deterministic"], errors) is "deterministic" ? PredictionMode.Deterministic : PredictionMode.Mc };
                    break;
                case "interval":
                    request = request with { Interval = Choice(field, value, ["gaussian", "quantile"], errors) is "quantile" ? IntervalMethod.Quantile : IntervalMethod.Gaussian };
                    break;
                default:
                    errors[field] = [$"Unknown parameter '{key}'; this server reads samples, seed, tolerance, interval_level, mode and interval."];
                    break;
            }
        }

        return errors.Count > 0 ? throw new RequestValidationException(errors) : request;
    }

    /// <summary>A parameter that must be a whole number in [min, max]: an int64 value, or a string of one (gRPC has no other way for some clients).</summary>
    private static long? Integer(string field, object value, long min, long max, Dictionary<string, string[]> errors)
    {
        long? number = value switch
        {
            long l => l,
            string s when long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) => parsed,
            _ => null,
        };
        if (number is not { } n || n < min || n > max)
        {
            errors[field] = [$"{field} must be a whole number between {min} and {max}; got {Show(value)}."];
            return null;
        }

        return n;
    }

    /// <summary>A parameter that is a number: a double, an int64, or a string of a number (gRPC's InferParameter has no double).</summary>
    private static double? Number(string field, object value, Dictionary<string, string[]> errors)
    {
        double? number = value switch
        {
            double d => d,
            long l => l,
            string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
            _ => null,
        };
        if (number is null)
        {
            errors[field] = [$"{field} must be a number; got {Show(value)}."];
        }

        return number;
    }

    private static string? Choice(string field, object value, string[] allowed, Dictionary<string, string[]> errors)
    {
        if (value is string s && allowed.Contains(s, StringComparer.Ordinal))
        {
            return s;
        }

        errors[field] = [$"{field} must be {string.Join(" or ", allowed.Select(a => $"'{a}'"))} on this server; got {Show(value)}."];
        return null;
    }

    private static string Show(object value) => value switch
    {
        string s => $"'{s}'",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>/predict's option fields by the request parameter that sets each.</summary>
    private static readonly Dictionary<string, string> ParameterFields = new(StringComparer.Ordinal)
    {
        ["samples"] = "parameters.samples",
        ["seed"] = "parameters.seed",
        ["tolerance"] = "parameters.tolerance",
        ["intervalLevel"] = "parameters.interval_level",
        ["mode"] = "parameters.mode",
        ["interval"] = "parameters.interval",
    };

    private static string RowField(string key) =>
        ParameterFields.TryGetValue(key, out var parameter) ? parameter
        : key.StartsWith("inputs[", StringComparison.Ordinal) && key.IndexOf(']', StringComparison.Ordinal) is var end and > 0
            ? $"row {key[7..end]}{key[(end + 1)..]}"
            : key;

    private static int? ParseVersion(string name, string? version) =>
        string.IsNullOrEmpty(version) ? null
        : int.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
        : throw new NotFoundException("Model version not found", $"Model '{name}' has no version '{version}'; versions are whole numbers.");

    private ModelDescription Description(string name, int version)
    {
        try
        {
            return store.Manifest(name, version).Model;
        }
        catch (InvalidDataException e)
        {
            throw new ModelUnavailableException(name, version, e.Message);
        }
    }

    /// <summary>
    /// The input tensor: FP32 [-1, ...the model's input shape] (tabular [-1, F], image [-1, C, H, W], sequence [-1, L, F]);
    /// BYTES [-1] for a text model; INT64 [-1, L] token ids for a token model without a tokenizer.
    /// </summary>
    private static TensorMetadata InputOf(ModelDescription model)
    {
        var network = model.Network;
        if (network.IsTokenSequence)
        {
            return model.Text is not null
                ? new TensorMetadata(InputName, InferDatatypes.Bytes, [-1])
                : new TensorMetadata(InputName, InferDatatypes.Int64Type, [-1, network.ResolvedInputShape[0]]);
        }

        return new TensorMetadata(InputName, InferDatatypes.Fp32, [-1, .. network.ResolvedInputShape.Select(d => (long)d)]);
    }

    private static string[] OutputNames(ModelDescription model) =>
        model.Network.Head.Kind == HeadKind.Classification ? ClassifierOutputs : RegressionOutputs;

    private static List<string> SelectOutputs(ModelDescription model, IReadOnlyList<InferRequestedOutput> requested)
    {
        var available = OutputNames(model);
        if (requested.Count == 0)
        {
            return [.. available];
        }

        var errors = new Dictionary<string, string[]>();
        for (int i = 0; i < requested.Count; i++)
        {
            var output = requested[i];
            if (!available.Contains(output.Name, StringComparer.Ordinal))
            {
                var kind = model.Network.Head.Kind == HeadKind.Classification ? "a classifier" : "a regression model";
                errors[$"outputs[{i}].name"] = [$"'{output.Name}' is not an output of this model ({kind}); it has {string.Join(", ", available)}."];
            }

            foreach (var (key, value) in output.Parameters)
            {
                // Triton clients mark every requested output binary_data=false; binary output is not served.
                if (key != "binary_data" || value is not false)
                {
                    errors[$"outputs[{i}].parameters.{key}"] = [$"Output parameter '{key}' = {Show(value)} is not supported; outputs come as JSON or typed gRPC contents (binary_data false)."];
                }
            }
        }

        if (requested.Select(o => o.Name).Distinct(StringComparer.Ordinal).Count() != requested.Count)
        {
            errors["outputs"] = ["Each output may be requested once."];
        }

        return errors.Count > 0 ? throw new RequestValidationException(errors) : [.. requested.Select(o => o.Name)];
    }

    private static InferOutput Output(string name, List<RowResult> rows, int width)
    {
        if (name == "label")
        {
            return new InferOutput(name, InferDatatypes.Bytes, [rows.Count], null, [.. rows.Select(row => row.Label!)]);
        }

        var values = rows.SelectMany(row => Values(name, row)).ToArray();
        long[] shape = PerRowOutputs.Contains(name) ? [rows.Count] : [rows.Count, width];
        return new InferOutput(name, InferDatatypes.Fp64, shape, values, null);
    }

    private static double[] Values(string name, RowResult row) => name switch
    {
        "mean" => row.Mean,
        "epistemic_variance" => row.EpistemicVariance,
        "aleatoric_variance" => row.AleatoricVariance!,
        "predictive_variance" => row.PredictiveVariance!,
        "std" => row.Std!,
        "standard_error" => row.StandardError!,
        "interval_lower" => row.Interval!.Lower,
        "interval_upper" => row.Interval!.Upper,
        "probabilities" => row.Probabilities!,
        "probability_std" => row.ProbabilityStd!,
        "entropy" => [row.Entropy!.Value],
        "expected_entropy" => [row.ExpectedEntropy!.Value],
        "mutual_information" => [row.MutualInformation!.Value],
        "variation_ratio" => [row.VariationRatio!.Value],
        _ => throw new InvalidOperationException($"unknown output {name}"),
    };

    /// <summary>
    /// The request's rows, as <c>/predict</c> takes them, from its input tensors: one tensor <c>input</c> of shape
    /// [N, ...the model's input shape] (flat per row: [N, F], [N, C*H*W] also read), [N, S, F] with S up to L for a
    /// sequence model, BYTES [N] or INT64 ids [N, S] (trailing 0s are padding) for a token model; or, for a tabular
    /// model, one tensor per feature of shape [N] or [N, 1] named by the feature names.
    /// </summary>
    internal static JsonElement[] Rows(ModelDescription model, IReadOnlyList<InferInput> inputs)
    {
        if (inputs.Count == 0)
        {
            throw new RequestValidationException("inputs", $"Send the input tensor '{InputName}'.");
        }

        var network = model.Network;
        var shape = network.ResolvedInputShape;
        bool tabular = shape.Count == 1 && !network.IsSequence;
        string[] features = [.. model.FeatureNames ?? [.. Enumerable.Range(0, network.Inputs).Select(i => $"x{i}")]];
        if (tabular && (inputs.Count > 1 || (inputs[0].Name != InputName && features.Contains(inputs[0].Name))))
        {
            return FeatureRows(inputs, features);
        }

        if (inputs.Count > 1 || inputs[0].Name != InputName)
        {
            var what = tabular ? $"one tensor '{InputName}' of shape [N, {network.Inputs}], or one tensor per feature ({string.Join(", ", features)})" : $"one tensor '{InputName}'";
            throw new RequestValidationException(inputs.Count > 1 ? "inputs" : $"{inputs[0].Field}.name", $"This model reads {what}.");
        }

        var input = inputs[0];
        if (network.IsTokenSequence)
        {
            return TokenRows(input, model);
        }

        RequireNumeric(input);
        int perRow = shape.Aggregate(1, (product, d) => product * d);
        if (input.Shape.Length >= 2 && Product(input.Shape.AsSpan(1)) == perRow
            && (input.Shape.Length == 2 || input.Shape.AsSpan(1).SequenceEqual([.. shape.Select(d => (long)d)])))
        {
            return Slices(input, perRow, values => Element(values.ToArray()));
        }

        if (network.IsSequence && input.Shape is [var n, var steps and >= 1, var width] && width == shape[^1] && steps <= shape[0])
        {
            // Fewer steps than L: each row's [steps][features], which /predict pads.
            return Slices(input, (int)(steps * width), values => Element(values.ToArray().Chunk((int)width).ToArray()), n);
        }

        var expected = network.IsSequence ? $"[N, S, {shape[^1]}] with S from 1 to {shape[0]}" : $"[N, {string.Join(", ", shape)}]";
        throw new RequestValidationException($"{input.Field}.shape", $"The '{InputName}' tensor has shape {expected}{(shape.Count > 1 ? $" (or [N, {perRow}])" : "")}; got [{string.Join(", ", input.Shape)}].");
    }

    private static JsonElement[] FeatureRows(IReadOnlyList<InferInput> inputs, string[] features)
    {
        var errors = new Dictionary<string, string[]>();
        var columns = new double[features.Length][];
        long rows = -1;
        foreach (var input in inputs)
        {
            int index = Array.IndexOf(features, input.Name);
            if (index < 0)
            {
                errors[$"{input.Field}.name"] = [$"Unknown tensor '{input.Name}': send '{InputName}' [N, {features.Length}], or one tensor per feature ({string.Join(", ", features)})."];
                continue;
            }

            if (columns[index] is not null)
            {
                errors[$"{input.Field}.name"] = [$"Feature '{input.Name}' is given twice."];
                continue;
            }

            if (input.Shape is not ([_] or [_, 1]) || (rows >= 0 && input.Shape[0] != rows))
            {
                errors[$"{input.Field}.shape"] = [$"A feature tensor has shape [N] or [N, 1], the same N for every feature; got [{string.Join(", ", input.Shape)}]."];
                continue;
            }

            if (!InferDatatypes.Numeric.Contains(input.Datatype))
            {
                errors[$"{input.Field}.datatype"] = [$"Feature tensors are {string.Join(", ", InferDatatypes.Numeric)}; got {input.Datatype}."];
                continue;
            }

            rows = input.Shape[0];
            columns[index] = input.Numbers!;
        }

        var missing = features.Where((_, i) => columns[i] is null).ToList();
        if (errors.Count == 0 && missing.Count > 0)
        {
            errors["inputs"] = [$"Missing feature tensor{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)}."];
        }

        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        return [.. Enumerable.Range(0, (int)rows).Select(r => Element(columns.Select(column => column[r]).ToArray()))];
    }

    private static JsonElement[] TokenRows(InferInput input, ModelDescription model)
    {
        if (input.Datatype == InferDatatypes.Bytes)
        {
            if (model.Text is null)
            {
                throw new RequestValidationException($"{input.Field}.datatype", $"This model has no tokenizer: send {InferDatatypes.Int64Type} token ids [N, S].");
            }

            if (input.Shape is not ([_] or [_, 1]))
            {
                throw new RequestValidationException($"{input.Field}.shape", $"Texts are a BYTES tensor of shape [N] or [N, 1]; got [{string.Join(", ", input.Shape)}].");
            }

            return [.. input.Strings!.Select(text => Element(text))];
        }

        if (input.Datatype is not (InferDatatypes.Int64Type or InferDatatypes.Int32Type))
        {
            var texts = model.Text is null ? "" : $"{InferDatatypes.Bytes} texts [N] or ";
            throw new RequestValidationException($"{input.Field}.datatype", $"This model reads {texts}{InferDatatypes.Int64Type} token ids [N, S]; got {input.Datatype}.");
        }

        if (input.Shape is not [var n, var steps and >= 1])
        {
            throw new RequestValidationException($"{input.Field}.shape", $"Token ids are a tensor of shape [N, S], S from 1 to {model.Network.ResolvedInputShape[0]}; got [{string.Join(", ", input.Shape)}].");
        }

        // Rows of different lengths come padded with id 0 at the end; /predict takes each row at its own length.
        return Slices(input, (int)steps, values =>
        {
            int length = values.Length;
            while (length > 0 && values[length - 1] == 0)
            {
                length--;
            }

            return Element(values[..length].ToArray().Select(id => (long)id).ToArray());
        }, n);
    }

    private static void RequireNumeric(InferInput input)
    {
        if (!InferDatatypes.Numeric.Contains(input.Datatype))
        {
            throw new RequestValidationException($"{input.Field}.datatype", $"The '{InputName}' tensor is {string.Join(", ", InferDatatypes.Numeric)}; got {input.Datatype}.");
        }
    }

    private delegate JsonElement RowOf(ReadOnlySpan<double> values);

    private static JsonElement[] Slices(InferInput input, int perRow, RowOf row, long? rows = null)
    {
        var values = input.Numbers!;
        var count = rows ?? input.Shape[0];
        var result = new JsonElement[count];
        for (int r = 0; r < count; r++)
        {
            result[r] = row(values.AsSpan(r * perRow, perRow));
        }

        return result;
    }

    private static long Product(ReadOnlySpan<long> dimensions)
    {
        long product = 1;
        foreach (var d in dimensions)
        {
            product *= d;
        }

        return product;
    }

    private static JsonElement Element<T>(T value) => JsonSerializer.SerializeToElement(value);
}
