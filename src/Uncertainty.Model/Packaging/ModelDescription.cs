using Uncertainty.Model.Data;
using Uncertainty.Model.Forecasting;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;

namespace Uncertainty.Model.Packaging;

/// <summary>What the training images looked like: light ink on a dark background (MNIST, the 8x8 digits) or the reverse.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(Networks.CamelCaseEnumConverter<ImageBackground>))]
public enum ImageBackground
{
    Dark,
    Light,
}

/// <summary>
/// An image model's preprocessing: a picture is converted to <see cref="Channels"/> channels (1 = grey), resized to
/// <see cref="Height"/> x <see cref="Width"/>, scaled so full intensity is <see cref="PixelMax"/> (the raw units of the
/// training data), and inverted when its background is the opposite of <see cref="Background"/>.
/// </summary>
/// <param name="Channels">Channels the picture is converted to: 1 (grey) or 3 (RGB).</param>
/// <param name="Height">Height in pixels the picture is resized to.</param>
/// <param name="Width">Width in pixels the picture is resized to.</param>
/// <param name="PixelMax">The value of full intensity in the training data (1 for 0-1 pixels, 255 for bytes).</param>
/// <param name="Background">The training images' background: dark (light ink on dark, as MNIST) or light; a picture with the other background is inverted.</param>
public sealed record ImageInput(int Channels, int Height, int Width, double PixelMax, ImageBackground Background)
{
    /// <summary>The preprocessing of a network over [C, H, W] trained on <paramref name="pixels"/> (raw values, row-major).</summary>
    public static ImageInput For(NetworkSpec spec, ReadOnlySpan<float> pixels)
    {
        var shape = spec.InputShape ?? throw new ArgumentException("Not an image network: it has no [channels, height, width] input shape.", nameof(spec));
        double max = 0;
        foreach (var value in pixels)
        {
            max = Math.Max(max, value);
        }

        max = max <= 1 ? 1 : max;
        return new ImageInput(shape[0], shape[1], shape[2], max, BackgroundOf(pixels, max));
    }

    /// <summary>Most of a digit or garment picture is background, so the mean pixel sits on the background's side of half intensity.</summary>
    public static ImageBackground BackgroundOf(ReadOnlySpan<float> pixels, double pixelMax)
    {
        double sum = 0;
        foreach (var value in pixels)
        {
            sum += value;
        }

        return pixels.Length > 0 && sum / pixels.Length > pixelMax / 2 ? ImageBackground.Light : ImageBackground.Dark;
    }

    /// <summary>
    /// The images as rows in this preprocessing's units: their shape must be this one, pixels are rescaled from the dataset's
    /// full intensity to <see cref="PixelMax"/> and inverted where the dataset's background is the other one (so a model
    /// imported with PyTorch's 0-1 convention is scored on MNIST's 0-255 pictures correctly).
    /// </summary>
    public Dataset RowsOf(ImageDataset images)
    {
        if (images.Channels != Channels || images.Height != Height || images.Width != Width)
        {
            throw new ArgumentException($"{images.Name} holds {images.Channels}x{images.Height}x{images.Width} pictures; the model reads [{Channels}, {Height}, {Width}].", nameof(images));
        }

        bool invert = BackgroundOf(images.Pixels, images.PixelMax) != Background;
        double scale = PixelMax / images.PixelMax;
        if (scale == 1 && !invert)
        {
            return images.ToDataset();
        }

        var pixels = new float[images.Pixels.Length];
        for (int i = 0; i < pixels.Length; i++)
        {
            var value = invert ? images.PixelMax - images.Pixels[i] : images.Pixels[i];
            pixels[i] = (float)(value * scale);
        }

        return (images with { Pixels = pixels, PixelMax = PixelMax }).ToDataset();
    }
}

/// <summary>Everything about a model but its weights: the network and how raw inputs and outputs map to network units.</summary>
public sealed record ModelDescription
{
    public required NetworkSpec Network { get; init; }

    /// <summary>Input standardisation, fitted on the training split.</summary>
    public required Standardizer InputScaling { get; init; }

    /// <summary>Target standardisation for regression (fitted on the training split); null for classifiers.</summary>
    public Standardizer? TargetScaling { get; init; }

    public IReadOnlyList<string>? FeatureNames { get; init; }

    /// <summary>For an image model: how a picture becomes an input row (null for tabular models).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public ImageInput? Image { get; init; }

    /// <summary>For a text model: the tokenizer that turns a string into token ids (null for other models).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public Text.TextInput? Text { get; init; }

    /// <summary>For a forecasting model: how a history of daily values becomes one row per horizon step (null for other models).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public ForecastInput? Forecast { get; init; }

    /// <summary>Names of the regression targets, or the class labels in output order.</summary>
    public IReadOnlyList<string>? OutputNames { get; init; }

    public TrainingSummary? Training { get; init; }

    /// <summary>What the model was trained on and which rows were held out of training; null in packages made before this was recorded (or imported).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public TrainingData? TrainingData { get; init; }

    public string? Description { get; init; }

    /// <summary>How the dropout rate and tau were chosen when training tuned them (a grid's validation scores); null otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public Training.TuningReport? Tuning { get; init; }

    /// <summary>
    /// Raw training rows kept for display (features, then the target value or class index): every row of a
    /// one-input model up to <see cref="MaxExamples"/>, so a plot can show the data; otherwise the first few.
    /// </summary>
    public IReadOnlyList<float[]>? Examples { get; init; }

    public const int MaxExamples = 512;

    /// <summary>Values <see cref="Examples"/> holds at most beyond its first row: five 28x28 pictures fit, five 1000x1000 ones do not.</summary>
    public const int MaxExampleValues = 16_384;

    /// <summary>The rows <see cref="Examples"/> keeps of <paramref name="data"/>.</summary>
    /// <remarks>At most <see cref="MaxExampleValues"/> values in all (at least one row), so a large picture does not bloat the manifest.</remarks>
    public static IReadOnlyList<float[]> ExamplesOf(Dataset data) =>
        [.. Enumerable.Range(0, Math.Min(data.Rows, data.Columns == 1 ? MaxExamples : Math.Clamp(MaxExampleValues / data.Columns, 1, 5)))
            .Select(r => (float[])[.. data.Features.AsSpan(r * data.Columns, data.Columns), data.Targets[r]])];

    /// <summary>Per output, reported units per network unit (the target std for regression, 1 for probabilities).</summary>
    public double[] OutputScale => Network.Head.Kind == HeadKind.Classification || TargetScaling is null
        ? [.. Enumerable.Repeat(1.0, Network.Head.Outputs)]
        : TargetScaling.Std;

    /// <summary>Raw inputs, row-major, to network units. Token ids must be whole numbers below the vocabulary size (0 is padding).</summary>
    public float[] PrepareInputs(ReadOnlySpan<float> raw)
    {
        CheckTokenIds(Network, raw, nameof(raw));
        return InputScaling.Transform(raw);
    }

    /// <summary>
    /// For a token network, refuses any value that is not a token id (a whole number from 0, padding, to vocab - 1): the
    /// embedding would truncate a fraction and fail (on a GPU, with a device-side assert) on an id outside the vocabulary.
    /// </summary>
    public static void CheckTokenIds(NetworkSpec network, ReadOnlySpan<float> raw, string parameter)
    {
        if (!network.IsTokenSequence)
        {
            return;
        }

        int vocabulary = network.ResolvedLayers[0].Vocab!.Value;
        for (int i = 0; i < raw.Length; i++)
        {
            if (!(raw[i] >= 0 && raw[i] < vocabulary && raw[i] == MathF.Floor(raw[i])))
            {
                throw new ArgumentException($"Row {i / network.Inputs}, step {i % network.Inputs}: {raw[i]} is not a token id; ids are whole numbers from 0 (padding) to {vocabulary - 1}.", parameter);
            }
        }
    }

    /// <summary>Maps a regression prediction back to target units (variances scale by std squared); classifiers are unchanged.</summary>
    public McPrediction ToReportedUnits(McPrediction prediction) => TargetScaling is null
        ? prediction
        : prediction with { Rows = [.. prediction.Rows.Select(ToReportedUnits)] };

    public RowPrediction ToReportedUnits(RowPrediction row)
    {
        if (row is not RegressionPrediction regression || TargetScaling is not { } scaling)
        {
            return row;
        }

        double Square(int o) => scaling.Std[o] * scaling.Std[o];
        return new RegressionPrediction(
            [.. regression.Mean.Select(scaling.Inverse)],
            [.. regression.EpistemicVariance.Select((v, o) => v * Square(o))],
            [.. regression.AleatoricVariance.Select((v, o) => v * Square(o))])
        {
            Samples = regression.Samples is { } passes ? InverseSamples(passes, scaling) : null,
            StandardError = regression.StandardError?.Select((e, o) => e * scaling.Std[o]).ToArray(),
            Mixture = regression.Mixture?.Affine(scaling.Std, scaling.Mean),
        };
    }

    /// <summary>Every pass in target units, with plain loops: evaluation maps 10^4 passes of every row.</summary>
    private static float[][] InverseSamples(float[][] passes, Standardizer scaling)
    {
        var mapped = new float[passes.Length][];
        for (int t = 0; t < passes.Length; t++)
        {
            var pass = passes[t];
            var values = new float[pass.Length];
            for (int o = 0; o < pass.Length; o++)
            {
                values[o] = (float)scaling.Inverse(pass[o], o);
            }

            mapped[t] = values;
        }

        return mapped;
    }
}
