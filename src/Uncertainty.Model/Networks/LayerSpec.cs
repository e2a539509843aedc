using System.Text.Json.Serialization;

namespace Uncertainty.Model.Networks;

/// <summary>The layer types a network spec may list; docs/layers.md gives the PyTorch module of each.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<LayerType>))]
public enum LayerType
{
    [JsonStringEnumMemberName("linear")] Linear,
    [JsonStringEnumMemberName("conv2d")] Conv2d,
    [JsonStringEnumMemberName("maxPool2d")] MaxPool2d,
    [JsonStringEnumMemberName("avgPool2d")] AvgPool2d,
    [JsonStringEnumMemberName("adaptiveAvgPool2d")] AdaptiveAvgPool2d,
    [JsonStringEnumMemberName("flatten")] Flatten,
    [JsonStringEnumMemberName("batchNorm1d")] BatchNorm1d,
    [JsonStringEnumMemberName("batchNorm2d")] BatchNorm2d,
    [JsonStringEnumMemberName("layerNorm")] LayerNorm,
    [JsonStringEnumMemberName("relu")] Relu,
    [JsonStringEnumMemberName("gelu")] Gelu,
    [JsonStringEnumMemberName("tanh")] Tanh,
    [JsonStringEnumMemberName("sigmoid")] Sigmoid,
    [JsonStringEnumMemberName("elu")] Elu,
    [JsonStringEnumMemberName("leakyRelu")] LeakyRelu,
    [JsonStringEnumMemberName("identity")] Identity,

    /// <summary>Element-wise dropout: every value of a row's activation has its own keep/drop.</summary>
    [JsonStringEnumMemberName("dropout")] Dropout,

    /// <summary>Spatial dropout (Tompson et al. 2015): one keep/drop per sample and channel, the same at every position.</summary>
    [JsonStringEnumMemberName("dropout2d")] Dropout2d,
}

/// <summary>
/// One layer of a network spec. Fields apply by type (unused ones stay null): out (linear, conv2d), kernel, stride and
/// padding (conv2d, pools; a pool's stride defaults to its kernel), p (dropout), size (adaptiveAvgPool2d).
/// </summary>
public sealed record LayerSpec
{
    public required LayerType Type { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Out { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Kernel { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Stride { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Padding { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? P { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Size { get; init; }

    public static LayerSpec Of(LayerType type) => new() { Type = type };

    public static LayerSpec LinearTo(int outputs) => new() { Type = LayerType.Linear, Out = outputs };

    public static LayerSpec DropoutOf(double p) => new() { Type = LayerType.Dropout, P = p };

    [JsonIgnore]
    public bool IsDropout => Type is LayerType.Dropout or LayerType.Dropout2d;

    /// <summary>The layer's dropout rate (0 for other layers).</summary>
    [JsonIgnore]
    public double Rate => IsDropout ? P ?? 0.5 : 0;
}

/// <summary>One resolved layer: its spec with the per-row shapes it reads and writes (the batch dimension left out).</summary>
public sealed record LayerShape(int Index, LayerSpec Layer, int[] Input, int[] Output)
{
    /// <summary>Values in one row of the output (saturating at int.MaxValue).</summary>
    public long OutputValues => Values(Output);

    /// <summary>Trainable values the layer allocates (BatchNorm's running statistics are buffers, not counted); saturating.</summary>
    public long Parameters => Layer.Type switch
    {
        LayerType.Linear => Add(Multiply(Input[^1], Layer.Out!.Value), Layer.Out!.Value),
        LayerType.Conv2d => Add(Multiply(Multiply(Input[0], Layer.Out!.Value), Multiply(Layer.Kernel!.Value, Layer.Kernel!.Value)), Layer.Out!.Value),
        LayerType.BatchNorm1d or LayerType.BatchNorm2d => 2L * Input[0],
        LayerType.LayerNorm => 2L * Input[^1],
        _ => 0,
    };

    /// <summary>
    /// Work of one row, in multiply-adds or the comparable element operations: a linear layer's weights once per leading
    /// position, a convolution's kernel once per output position, a pool's window once per output value, an adaptive pool
    /// each input value once, every other layer each of its values once. A pooling stack with few parameters can cost as much
    /// as a convolution, so it counts the same way.
    /// </summary>
    public long MultiplyAdds => Layer.Type switch
    {
        LayerType.Linear => Multiply(Values(Input), Layer.Out!.Value),
        LayerType.Conv2d => Multiply(OutputValues, Multiply(Input[0], Multiply(Layer.Kernel!.Value, Layer.Kernel!.Value))),
        LayerType.MaxPool2d or LayerType.AvgPool2d => Multiply(OutputValues, Multiply(Layer.Kernel!.Value, Layer.Kernel!.Value)),
        _ => Math.Max(Values(Input), OutputValues),
    };

    internal static long Values(IEnumerable<int> shape) => shape.Aggregate(1L, (total, extent) => Multiply(total, extent));

    internal static long Add(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    internal static long Multiply(long a, long b) => a != 0 && b > long.MaxValue / a ? long.MaxValue : a * b;
}

/// <summary>Shape inference over a layer list: each layer's per-row input and output shapes, or an error naming the layer and field.</summary>
public static class LayerShapes
{
    /// <summary>Longest layer list accepted: far above real networks (ResNet-152 has about 500 modules), and bounded before any is built.</summary>
    public const int MaxLayers = 1024;

    public static IReadOnlyList<LayerShape> Infer(IReadOnlyList<int> inputShape, IReadOnlyList<LayerSpec> layers)
    {
        if (layers.Count > MaxLayers)
        {
            throw new ArgumentException($"Network spec field 'layers' lists {layers.Count} layers; at most {MaxLayers} are accepted.", nameof(layers));
        }

        var shapes = new List<LayerShape>(layers.Count);
        int[] shape = [.. inputShape];
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i] ?? throw new ArgumentException($"Network spec field 'layers[{i}]' is null.", nameof(layers));
            var output = OutputShape(layer, shape, $"layers[{i}]");
            shapes.Add(new LayerShape(i, layer, shape, output));
            shape = output;
        }

        return shapes;
    }

    private static int[] OutputShape(LayerSpec layer, int[] input, string at)
    {
        var type = layer.Type;
        void Require(bool condition, string problem)
        {
            if (!condition)
            {
                throw new ArgumentException($"Network spec field '{at}' ({Name(type)}) {problem}.", nameof(layer));
            }
        }

        Require(Enum.IsDefined(type), "has an unknown type");
        bool convolution = type == LayerType.Conv2d, pool = type is LayerType.MaxPool2d or LayerType.AvgPool2d;
        Require(layer.Out is null || type is LayerType.Linear or LayerType.Conv2d, "does not take 'out'");
        Require(layer.Kernel is null || convolution || pool, "does not take 'kernel'");
        Require(layer.Stride is null || convolution || pool, "does not take 'stride'");
        Require(layer.Padding is null || convolution || pool, "does not take 'padding'");
        Require(layer.P is null || layer.IsDropout, "does not take 'p'");
        Require(layer.Size is null || type == LayerType.AdaptiveAvgPool2d, "does not take 'size'");
        if (layer.IsDropout)
        {
            Require(layer.P is { } p && p >= 0 && p < 1 && double.IsFinite(p), "needs 'p' in [0, 1)");
        }

        switch (type)
        {
            case LayerType.Linear:
                Require(layer.Out >= 1, "needs 'out' of at least 1");
                return [.. input[..^1], layer.Out!.Value];
            case LayerType.Conv2d or LayerType.MaxPool2d or LayerType.AvgPool2d:
            {
                Require(input.Length == 3, $"needs a [channels, height, width] input, not [{string.Join(", ", input)}]");
                Require(convolution ? layer.Out >= 1 : true, "needs 'out' of at least 1");
                Require(layer.Kernel >= 1, "needs 'kernel' of at least 1");
                int kernel = layer.Kernel!.Value, stride = layer.Stride ?? (convolution ? 1 : kernel), padding = layer.Padding ?? 0;
                Require(stride >= 1, "needs 'stride' of at least 1");
                Require(padding >= 0 && (convolution || padding <= kernel / 2), convolution ? "needs 'padding' of at least 0" : "needs 'padding' between 0 and half the kernel");
                long height = ((input[1] + (2L * padding) - kernel) / stride) + 1, width = ((input[2] + (2L * padding) - kernel) / stride) + 1;
                Require(input[1] + (2L * padding) >= kernel && input[2] + (2L * padding) >= kernel, $"has a {kernel}x{kernel} kernel larger than its padded {input[1]}x{input[2]} input");
                Require(height <= int.MaxValue && width <= int.MaxValue, "pads its input beyond 2^31 positions");
                return [convolution ? layer.Out!.Value : input[0], (int)height, (int)width];
            }

            case LayerType.AdaptiveAvgPool2d:
                Require(input.Length == 3, $"needs a [channels, height, width] input, not [{string.Join(", ", input)}]");
                Require(layer.Size >= 1, "needs 'size' of at least 1");
                return [input[0], layer.Size!.Value, layer.Size!.Value];
            case LayerType.Flatten:
                Require(LayerShape.Values(input) <= int.MaxValue, "flattens more than 2^31 values");
                return [(int)LayerShape.Values(input)];
            case LayerType.BatchNorm1d:
                Require(input.Length is 1 or 2, $"needs a [features] or [channels, length] input, not [{string.Join(", ", input)}]");
                return input;
            case LayerType.BatchNorm2d or LayerType.Dropout2d:
                Require(input.Length == 3, $"needs a [channels, height, width] input, not [{string.Join(", ", input)}]");
                return input;
            default:
                return input;
        }
    }

    /// <summary>The layer type as written in JSON (its <see cref="JsonStringEnumMemberNameAttribute"/>).</summary>
    public static string Name(LayerType type) => System.Text.Json.JsonSerializer.Serialize(type).Trim('"');
}
