namespace Uncertainty.Api.OpenInference;

/// <summary>The Open Inference Protocol's tensor datatypes this service reads and writes.</summary>
public static class InferDatatypes
{
    public const string Fp32 = "FP32";
    public const string Fp64 = "FP64";
    public const string Int32Type = "INT32";
    public const string Int64Type = "INT64";
    public const string Bytes = "BYTES";

    /// <summary>The numeric input datatypes (BYTES is read only by text models).</summary>
    public static readonly IReadOnlyList<string> Numeric = [Fp32, Fp64, Int32Type, Int64Type];
}

/// <summary>
/// An input tensor as either protocol carries it, decoded: numbers as doubles (exact for FP32, INT32 and for INT64 up to
/// 2^53) or, for BYTES, UTF-8 strings. <paramref name="Field"/> names it in errors (inputs[0]).
/// </summary>
public sealed record InferInput(string Field, string Name, string Datatype, long[] Shape, double[]? Numbers, string[]? Strings, IReadOnlyDictionary<string, object> Parameters);

/// <summary>An output the caller asks for, with its parameters.</summary>
public sealed record InferRequestedOutput(string Name, IReadOnlyDictionary<string, object> Parameters);

/// <summary>
/// One inference request in either protocol, decoded: parameter values are bool, long, double or string.
/// </summary>
public sealed record InferCall(string? Id, IReadOnlyDictionary<string, object> Parameters, IReadOnlyList<InferInput> Inputs, IReadOnlyList<InferRequestedOutput> Outputs);

/// <summary>An output tensor: FP64 numbers or BYTES strings, flattened row-major.</summary>
public sealed record InferOutput(string Name, string Datatype, long[] Shape, double[]? Numbers, string[]? Strings);

/// <summary>An answered inference: the version that computed it, the passes made and the seed its masks came from.</summary>
public sealed record InferResult(string ModelName, int ModelVersion, string? Id, int Samples, ulong Seed, IReadOnlyList<InferOutput> Outputs);

/// <summary>A tensor's name, datatype and shape (-1 for the batch dimension), for model metadata.</summary>
/// <param name="Name">The tensor's name: "input" for the input; an output's name (mean, epistemic_variance, ...).</param>
/// <param name="Datatype">The protocol's datatype: FP32, FP64, INT64 or BYTES.</param>
/// <param name="Shape">Dimensions, -1 for the batch (rows) dimension.</param>
public sealed record TensorMetadata(string Name, string Datatype, long[] Shape);

/// <summary>A model as the protocol describes it.</summary>
/// <param name="Name">The model's name.</param>
/// <param name="Versions">Its versions in the store.</param>
/// <param name="Platform">What runs it.</param>
/// <param name="Inputs">The input tensors it reads.</param>
/// <param name="Outputs">The output tensors it can return.</param>
public sealed record ModelMetadata(string Name, IReadOnlyList<string> Versions, string Platform, IReadOnlyList<TensorMetadata> Inputs, IReadOnlyList<TensorMetadata> Outputs);

/// <summary>The server as the protocol describes it.</summary>
/// <param name="Name">The server's name.</param>
/// <param name="Version">Its version.</param>
/// <param name="Extensions">The protocol extensions it supports.</param>
public sealed record ServerMetadata(string Name, string Version, IReadOnlyList<string> Extensions);

/// <summary>Checks both protocols apply to a decoded input tensor before its values are read as rows.</summary>
public static class InferInputs
{
    /// <summary>The datatypes an input may have.</summary>
    public static readonly IReadOnlyList<string> Supported = [.. InferDatatypes.Numeric, InferDatatypes.Bytes];

    /// <summary>Decoded parameter values by name; a value neither protocol can carry (null) is an error saying <paramref name="expected"/>.</summary>
    public static Dictionary<string, object> Parameters(IEnumerable<KeyValuePair<string, object?>> values, string field, string expected, Dictionary<string, string[]> errors)
    {
        var result = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (key, value) in values)
        {
            if (value is null)
            {
                errors[$"{field}.{key}"] = [expected];
            }
            else
            {
                result[key] = value;
            }
        }

        return result;
    }

    /// <summary>A name, a supported datatype, a shape of non-negative sizes whose product is the number of elements sent, finite numbers, and no tensor parameters.</summary>
    public static void Check(InferInput input, int elements, Dictionary<string, string[]> errors)
    {
        if (string.IsNullOrEmpty(input.Name))
        {
            errors[$"{input.Field}.name"] = ["Every input tensor has a name."];
        }

        if (!Supported.Contains(input.Datatype))
        {
            errors[$"{input.Field}.datatype"] = [$"Input datatypes are {string.Join(", ", Supported)}; got '{input.Datatype}'."];
        }

        // Saturating at int.MaxValue + 1: a product of huge sizes must not wrap round to the number of elements sent.
        long product = input.Shape.Contains(0) ? 0 : input.Shape.Aggregate(1L, (p, size) => (long)Int128.Min((Int128)p * size, (Int128)int.MaxValue + 1));
        if (input.Shape.Length == 0 || input.Shape.Any(size => size < 0))
        {
            errors[$"{input.Field}.shape"] = [$"A shape is one or more sizes, each 0 or more; got [{string.Join(", ", input.Shape)}]."];
        }
        else if (product != elements)
        {
            var holds = product > int.MaxValue ? $"more than {int.MaxValue}" : product.ToString(System.Globalization.CultureInfo.InvariantCulture);
            errors[$"{input.Field}.shape"] = [$"Shape [{string.Join(", ", input.Shape)}] holds {holds} elements; the tensor has {elements}."];
        }

        // JSON numbers past double's range read as infinities, and gRPC carries NaN and infinities as they are; no model reads them.
        if (input.Numbers is { } numbers && Array.FindIndex(numbers, value => !double.IsFinite(value)) is var bad and >= 0)
        {
            errors[$"{input.Field}.data[{bad}]"] = [$"Elements are finite numbers; got {numbers[bad].ToString(System.Globalization.CultureInfo.InvariantCulture)}."];
        }

        foreach (var key in input.Parameters.Keys)
        {
            errors[$"{input.Field}.parameters.{key}"] = [$"Input tensor parameter '{key}' is not supported (binary tensor data is not served); send the data inline."];
        }
    }
}
