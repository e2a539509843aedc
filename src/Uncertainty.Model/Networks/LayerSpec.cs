using System.Text.Json;
using System.Text.Json.Serialization;

namespace Uncertainty.Model.Networks;

/// <summary>
/// Enum values by name only: a number where a name belongs ("type": 21) is refused, not read as whichever member has that
/// ordinal.
/// </summary>
public sealed class NamedEnumConverter<T>() : JsonStringEnumConverter<T>(namingPolicy: null, allowIntegerValues: false)
    where T : struct, Enum;

/// <summary>
/// Enum values as camelCase names ("heteroscedasticRegression"), the service's one spelling on the wire and in manifests; a
/// number is refused. Reading ignores case, so packages written with the earlier PascalCase names ("Regression") still load.
/// </summary>
public sealed class CamelCaseEnumConverter<T>() : JsonStringEnumConverter<T>(JsonNamingPolicy.CamelCase, allowIntegerValues: false)
    where T : struct, Enum;

/// <summary>The layer types a network spec may list; docs/layers.md gives the PyTorch module of each.</summary>
[JsonConverter(typeof(NamedEnumConverter<LayerType>))]
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

    /// <summary>Token ids [L] to vectors [L, dim]; word dropout drops whole token types per sequence (Gal and Ghahramani 2016).</summary>
    [JsonStringEnumMemberName("embedding")] Embedding,

    /// <summary>Adds a learned vector per position (an nn.Embedding over positions).</summary>
    [JsonStringEnumMemberName("positionalEmbedding")] PositionalEmbedding,

    /// <summary>Adds the fixed sine/cosine position code of Vaswani et al. (2017).</summary>
    [JsonStringEnumMemberName("sinusoidalPosition")] SinusoidalPosition,

    /// <summary>LSTM with variational dropout: one input and one recurrent-state mask per sequence, reused at every step.</summary>
    [JsonStringEnumMemberName("lstm")] Lstm,

    /// <summary>GRU with variational dropout, as <see cref="Lstm"/>.</summary>
    [JsonStringEnumMemberName("gru")] Gru,

    /// <summary>A stack of Transformer encoder layers (PyTorch's nn.TransformerEncoder), with attention and feed-forward dropout.</summary>
    [JsonStringEnumMemberName("transformerEncoder")] TransformerEncoder,

    /// <summary>Prepends a learned classification vector to the sequence ([L, D] to [L + 1, D]).</summary>
    [JsonStringEnumMemberName("clsToken")] ClsToken,

    /// <summary>Mean over the valid (unpadded) steps: [L, D] to [D].</summary>
    [JsonStringEnumMemberName("meanPool")] MeanPool,

    /// <summary>The last valid step: [L, D] to [D].</summary>
    [JsonStringEnumMemberName("lastStep")] LastStep,

    /// <summary>The first step (the classification vector after <see cref="ClsToken"/>): [L, D] to [D].</summary>
    [JsonStringEnumMemberName("firstStep")] FirstStep,
}

/// <summary>What a recurrent layer returns: the state after the last valid step, or its output at every step.</summary>
[JsonConverter(typeof(NamedEnumConverter<SequenceReturn>))]
public enum SequenceReturn
{
    [JsonStringEnumMemberName("last")] Last,
    [JsonStringEnumMemberName("all")] All,
}

/// <summary>
/// One layer of a network spec. Fields apply by type (unused ones stay null): out (linear, conv2d), kernel, stride and
/// padding (conv2d, pools; a pool's stride defaults to its kernel), p (dropout), size (adaptiveAvgPool2d), vocab, dim and
/// wordDropout (embedding), maxLength (positionalEmbedding), hidden, layers, inputDropout, recurrentDropout, outputDropout,
/// return and naive (lstm, gru), dModel, heads, ffn, layers, dropout, attentionDropout, normFirst and activation
/// (transformerEncoder). docs/layers.md gives each type's fields, defaults and PyTorch module. A field this record does not
/// have is refused: a misspelt "recurentDropout" would otherwise drop a dropout site, and with it part of the MC spread.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record LayerSpec
{
    /// <summary>The layer type; docs/layers.md gives its fields and PyTorch module.</summary>
    public required LayerType Type { get; init; }

    /// <summary>linear: output features; conv2d: output channels.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Out { get; init; }

    /// <summary>conv2d and pools: the square kernel size.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Kernel { get; init; }

    /// <summary>conv2d and pools: the step between windows (a pool defaults to its kernel, conv2d to 1).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Stride { get; init; }

    /// <summary>conv2d and pools: zero padding on each side (default 0).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Padding { get; init; }

    /// <summary>dropout, dropout2d: the drop probability (default 0.5).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? P { get; init; }

    /// <summary>adaptiveAvgPool2d: the square output size.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Size { get; init; }

    /// <summary>embedding: token ids, padding (0) and unknown (1) included.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Vocab { get; init; }

    /// <summary>embedding: vector width per token.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Dim { get; init; }

    /// <summary>embedding: the probability of dropping a whole token type per sequence (word dropout).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? WordDropout { get; init; }

    /// <summary>positionalEmbedding: the longest sequence it covers.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? MaxLength { get; init; }

    /// <summary>lstm, gru: the hidden state width.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Hidden { get; init; }

    /// <summary>Stacked layers of a recurrent layer or Transformer encoder (default 1).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Layers { get; init; }

    /// <summary>lstm, gru: the rate of the per-sequence mask on the inputs.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? InputDropout { get; init; }

    /// <summary>lstm, gru: the rate of the per-sequence mask on the recurrent state.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? RecurrentDropout { get; init; }

    /// <summary>lstm, gru: the rate of the per-sequence mask on the outputs.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? OutputDropout { get; init; }

    /// <summary>lstm, gru: last (the state after the last valid step, default) or all (the output at every step).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public SequenceReturn? Return { get; init; }

    /// <summary>Recurrent layers: a fresh mask at every time step instead of one per sequence, for comparison with variational dropout.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Naive { get; init; }

    /// <summary>transformerEncoder: the model width (the input vectors' width).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? DModel { get; init; }

    /// <summary>transformerEncoder: attention heads (dModel must be a multiple).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Heads { get; init; }

    /// <summary>transformerEncoder: the feed-forward hidden width.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Ffn { get; init; }

    /// <summary>Transformer encoder: the rate of the feed-forward dropout and of the dropout before each residual add (default 0.1).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Dropout { get; init; }

    /// <summary>Transformer encoder: the rate on the softmax attention weights (default 0.1).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? AttentionDropout { get; init; }

    /// <summary>transformerEncoder: layer normalisation before attention and feed-forward (pre-norm) instead of after.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? NormFirst { get; init; }

    /// <summary>Transformer encoder's feed-forward activation: relu (default) or gelu.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Activation? Activation { get; init; }

    public static LayerSpec Of(LayerType type) => new() { Type = type };

    public static LayerSpec LinearTo(int outputs) => new() { Type = LayerType.Linear, Out = outputs };

    public static LayerSpec DropoutOf(double p) => new() { Type = LayerType.Dropout, P = p };

    [JsonIgnore]
    public bool IsDropout => Type is LayerType.Dropout or LayerType.Dropout2d;

    /// <summary>The layer's dropout rate (0 for other layers).</summary>
    [JsonIgnore]
    public double Rate => IsDropout ? P ?? 0.5 : 0;

    /// <summary>Layers that read the padding of a sequence (which steps are valid) or draw masks of their own.</summary>
    [JsonIgnore]
    public bool IsSequenceLayer => Type is LayerType.Embedding or LayerType.PositionalEmbedding or LayerType.SinusoidalPosition
        or LayerType.Lstm or LayerType.Gru or LayerType.TransformerEncoder or LayerType.ClsToken
        or LayerType.MeanPool or LayerType.LastStep or LayerType.FirstStep;

    [JsonIgnore]
    public bool IsRecurrent => Type is LayerType.Lstm or LayerType.Gru;

    /// <summary>Stacked layers with the default.</summary>
    [JsonIgnore]
    public int Depth => Layers ?? 1;

    /// <summary>
    /// The rates of the masks this layer draws itself, in the order their mask streams are numbered (zero rates included:
    /// they draw nothing). Embedding: word; recurrent: per stacked layer input then recurrent, then output; Transformer:
    /// per layer attention, after-attention, feed-forward, after-feed-forward.
    /// </summary>
    [JsonIgnore]
    public IReadOnlyList<double> OwnDropoutRates => Type switch
    {
        LayerType.Embedding => [WordDropout ?? 0],
        LayerType.Lstm or LayerType.Gru => [.. Enumerable.Range(0, Depth).SelectMany(_ => new[] { InputDropout ?? 0, RecurrentDropout ?? 0 }), OutputDropout ?? 0],
        LayerType.TransformerEncoder => [.. Enumerable.Range(0, Depth).SelectMany(_ => new[] { AttentionDropout ?? 0.1, Dropout ?? 0.1, Dropout ?? 0.1, Dropout ?? 0.1 })],
        _ => [],
    };
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
        LayerType.Embedding => Multiply(Layer.Vocab!.Value, Layer.Dim!.Value),
        LayerType.PositionalEmbedding => Multiply(Layer.MaxLength!.Value, Input[^1]),
        LayerType.ClsToken => Input[^1],
        LayerType.Lstm or LayerType.Gru => RecurrentStack((input, hidden) => Add(Multiply(input + (long)hidden, hidden), 2L * hidden)),
        LayerType.TransformerEncoder => Multiply(Layer.Depth, EncoderLayerParameters(Input[^1], Layer.Ffn!.Value)),
        _ => 0,
    };

    /// <summary>
    /// Values one row holds at once inside the layer while predicting (at least its output): a Transformer's attention
    /// scores are heads x L x L, a recurrent layer's precomputed input gates L x gates x hidden. Sizes MC chunks.
    /// </summary>
    public long WorkingValues => Layer.Type switch
    {
        // One encoder layer at a time (each runs in its own dispose scope when predicting): scores, softmax, mask and masked
        // weights (heads x L x L each), and about ten [L, D] and two [L, ffn] activations.
        LayerType.TransformerEncoder => Math.Max(OutputValues, Add(Multiply(4L * Layer.Heads!.Value, Multiply(Input[0], Input[0])), Multiply(Input[0], (10L * Input[1]) + (2L * Layer.Ffn!.Value)))),
        // Every stacked layer's precomputed input gates and its per-step state, cell and output stay until the pass ends.
        LayerType.Lstm or LayerType.Gru => Math.Max(OutputValues, Multiply(Layer.Depth, Multiply(Input[0], Multiply(Gates + 4L, Layer.Hidden!.Value)))),
        _ => OutputValues,
    };

    /// <summary>Values one row keeps for the backward pass of a training step (the output, and what a layer keeps inside); saturating.</summary>
    public long TrainingValues => Layer.Type switch
    {
        LayerType.TransformerEncoder => Add(OutputValues, Multiply(Layer.Depth, Add(Multiply(3L * Layer.Heads!.Value, Multiply(Input[0], Input[0])), Multiply(Input[0], 10L * Input[1] + (2L * Layer.Ffn!.Value))))),
        LayerType.Lstm or LayerType.Gru => Add(OutputValues, Multiply(Layer.Depth, Multiply(Input[0], Multiply(Gates + 4L, Layer.Hidden!.Value)))),
        _ => OutputValues,
    };

    /// <summary>Gates per hidden unit of a recurrent layer: 4 for an LSTM, 3 for a GRU.</summary>
    private int Gates => Layer.Type == LayerType.Lstm ? 4 : 3;

    /// <summary>Sums, over the stacked layers of a recurrent layer, a function of (input width, hidden), times the gate count.</summary>
    private long RecurrentStack(Func<int, int, long> perGate)
    {
        int hidden = Layer.Hidden!.Value;
        long total = 0;
        for (int k = 0; k < Layer.Depth; k++)
        {
            total = Add(total, Multiply(Gates, perGate(k == 0 ? Input[^1] : hidden, hidden)));
        }

        return total;
    }

    private static long EncoderLayerParameters(long model, long ffn) =>
        Add(Add(Multiply(4 * model, model), 4 * model), Add(Multiply(2 * model, ffn), ffn + (5 * model)));

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
        LayerType.Lstm or LayerType.Gru => Multiply(Input[0], RecurrentStack((input, hidden) => Multiply(input + (long)hidden, hidden))),
        LayerType.TransformerEncoder => Multiply(Layer.Depth, Multiply(Input[0], Add(Multiply(4L * Input[1], Input[1]), Add(Multiply(2L * Input[1], Layer.Ffn!.Value), Multiply(2L * Input[0], Input[1]))))),
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
            var output = OutputShape(layer, shape, $"layers[{i}]", first: i == 0);
            shapes.Add(new LayerShape(i, layer, shape, output));
            shape = output;
        }

        return shapes;
    }

    /// <summary>
    /// Longest sequence a recurrent layer reads: its steps run one after another, a few operations each, so its cost grows with
    /// the steps whatever its width (a one-unit LSTM over a million steps would hold a worker for minutes).
    /// </summary>
    public const int MaxRecurrentSteps = 4096;

    /// <summary>Most stacked layers in one recurrent layer or Transformer encoder.</summary>
    public const int MaxStackedLayers = 64;

    /// <summary>Largest vocabulary: token ids travel in float32 input rows, exact up to 2^24.</summary>
    public const int MaxTokenId = 1 << 24;

    private static bool ValidRate(double p) => p >= 0 && p < 1 && double.IsFinite(p);

    private static int[] OutputShape(LayerSpec layer, int[] input, string at, bool first)
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
        bool recurrent = layer.IsRecurrent, encoder = type == LayerType.TransformerEncoder;
        Require(layer.Out is null || type is LayerType.Linear or LayerType.Conv2d, "does not take 'out'");
        Require(layer.Kernel is null || convolution || pool, "does not take 'kernel'");
        Require(layer.Stride is null || convolution || pool, "does not take 'stride'");
        Require(layer.Padding is null || convolution || pool, "does not take 'padding'");
        Require(layer.P is null || layer.IsDropout, "does not take 'p'");
        Require(layer.Size is null || type == LayerType.AdaptiveAvgPool2d, "does not take 'size'");
        Require((layer.Vocab, layer.Dim, layer.WordDropout) == (null, null, null) || type == LayerType.Embedding, "does not take 'vocab', 'dim' or 'wordDropout'");
        Require(layer.MaxLength is null || type == LayerType.PositionalEmbedding, "does not take 'maxLength'");
        Require((layer.Hidden, layer.InputDropout, layer.RecurrentDropout, layer.OutputDropout, layer.Return, layer.Naive) == (null, null, null, null, null, null) || recurrent,
            "does not take 'hidden', 'inputDropout', 'recurrentDropout', 'outputDropout', 'return' or 'naive'");
        Require(layer.Layers is null || recurrent || encoder, "does not take 'layers'");
        Require((layer.DModel, layer.Heads, layer.Ffn, layer.Dropout, layer.AttentionDropout, layer.NormFirst, layer.Activation) == (null, null, null, null, null, null, null) || encoder,
            "does not take 'dModel', 'heads', 'ffn', 'dropout', 'attentionDropout', 'normFirst' or 'activation'");
        if (layer.IsDropout)
        {
            Require(layer.P is { } p && ValidRate(p), "needs 'p' in [0, 1)");
        }

        Require(layer.OwnDropoutRates.All(ValidRate), "needs dropout rates in [0, 1)");
        Require(layer.Layers is null or (>= 1 and <= MaxStackedLayers), $"needs 'layers' between 1 and {MaxStackedLayers}");
        if (layer.IsSequenceLayer && type != LayerType.Embedding)
        {
            Require(input.Length == 2, $"needs a [length, features] sequence, not [{string.Join(", ", input)}]");
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
            case LayerType.Embedding:
                Require(first && input.Length == 1, "must be the first layer, over an inputShape of [length] token ids");
                Require(layer.Vocab is >= 2, "needs 'vocab' of at least 2 (id 0 is padding)");
                Require(layer.Dim is >= 1, "needs 'dim' of at least 1");
                Require(layer.Vocab <= MaxTokenId, $"needs 'vocab' of at most {MaxTokenId} (ids travel as float32 values)");
                return [input[0], layer.Dim!.Value];
            case LayerType.PositionalEmbedding:
                Require(layer.MaxLength >= input[0], $"needs 'maxLength' of at least the sequence length {input[0]}");
                return input;
            case LayerType.Lstm or LayerType.Gru:
                Require(layer.Hidden is >= 1, "needs 'hidden' of at least 1");
                Require(layer.Return is null || Enum.IsDefined(layer.Return.Value), "needs 'return' \"last\" or \"all\"");
                Require(input[0] <= MaxRecurrentSteps, $"reads at most {MaxRecurrentSteps} steps (its steps run one after another), not {input[0]}");
                return layer.Return == SequenceReturn.All ? [input[0], layer.Hidden!.Value] : [layer.Hidden!.Value];
            case LayerType.TransformerEncoder:
                Require(layer.DModel == input[1], $"needs 'dModel' equal to the features reaching it ({input[1]})");
                Require(layer.Heads is >= 1 && input[1] % layer.Heads == 0, $"needs 'heads' of at least 1 dividing dModel ({input[1]})");
                Require(layer.Ffn is >= 1, "needs 'ffn' of at least 1");
                Require(layer.Activation is null or Activation.Relu or Activation.Gelu, "needs 'activation' relu or gelu");
                return input;
            case LayerType.ClsToken:
                Require(input[0] < int.MaxValue, "has no room for one more step");
                return [input[0] + 1, input[1]];
            case LayerType.MeanPool or LayerType.LastStep or LayerType.FirstStep:
                return [input[1]];
            default:
                return input;
        }
    }

    /// <summary>The layer type as written in JSON (its <see cref="JsonStringEnumMemberNameAttribute"/>).</summary>
    public static string Name(LayerType type) => System.Text.Json.JsonSerializer.Serialize(type).Trim('"');
}
