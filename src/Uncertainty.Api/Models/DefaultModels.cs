using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;

namespace Uncertainty.Api.Models;

/// <summary>Models the service provides itself when its store lacks them, so a fresh start serves predictions with no setup.</summary>
public static class DefaultModels
{
    public const string Boston = "boston";
    public const string Toy = "toy";
    public const string Digits = "digits";
    public const string Spam = "spam";
    public const string Births = "births";

    public static readonly IReadOnlyList<string> Names = [Boston, Toy, Digits, Spam, Births];

    /// <summary>
    /// Built-ins trained in minutes on data that is fetched, not bundled, ship as packages (src/Uncertainty.Api/BuiltInModels,
    /// made by the commands in its README); the others are trained here in seconds.
    /// </summary>
    public static readonly IReadOnlyList<string> Shipped = [Spam, Births];

    public static ModelPackage Train(string name) => name switch
    {
        Boston => TrainBoston(),
        Toy => TrainToy(),
        Digits => TrainDigits(),
        Spam or Births => ModelPackage.Load(ShippedPackage(name)),
        _ => throw new ArgumentException($"'{name}' is not a built-in model; built-ins are {string.Join(", ", Names)}.", nameof(name)),
    };

    /// <summary>The folder of a shipped built-in package, beside the service's assemblies.</summary>
    public static string ShippedPackage(string name) => Path.Combine(AppContext.BaseDirectory, "BuiltInModels", name);

    /// <summary>Boston rows held out of the built-in's training (a seeded random fifth), so evaluating it on boston is honest.</summary>
    public const double BostonTestFraction = 0.2;

    /// <summary>
    /// The Boston housing MC-dropout regressor: its 13 inputs follow boston.csv's column order, the output is
    /// medv (k$). Gal and Ghahramani's UCI setup (one hidden layer of 50 ReLU units, dropout 0.05 on input and
    /// hidden layer, tau = 0.15, 400 epochs), trained in about a second on a seeded random 80 % of the 506 rows; the
    /// manifest records the other 20 %, which POST /models/boston/evaluate scores by default.
    /// </summary>
    public static ModelPackage TrainBoston()
    {
        var data = BundledDatasets.Load(Boston);
        var split = Splits.Random(data.Rows, BostonTestFraction, 2016);
        var package = Reproduction.Fit(
            data.Subset(split.Train),
            p: 0.05,
            tau: 0.15,
            // Pinned: the embedded model (and the examples in the docs) predate the protocol's 4,000-epoch, Glorot defaults.
            new ReproductionOptions { Epochs = 400, Initialization = WeightInitialization.Default },
            seed: 2016,
            description: "Boston housing: median home value (medv, k$) from the 13 features of boston.csv, in its column order.");
        return package.WithTrainingData(DataSource.Named(Boston, data.Rows).Record(split.Train, "a seeded random 20 % held out (seed 2016)"));
    }

    /// <summary>
    /// A 1-D regressor of y = sin(3x) + noise trained on x in [-1, 1] (one hidden layer of 256 ReLU units,
    /// dropout 0.1): its epistemic variance grows visibly outside the training range. Trains in about a second.
    /// </summary>
    public static ModelPackage TrainToy()
    {
        var random = new Random(2016);
        var x = Enumerable.Range(0, 256).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
        var y = x.Select(v => (float)(Math.Sin(3 * v) + (0.1 * Normal(random)))).ToArray();
        var data = new Dataset(Toy, ["x"], x, "y", y);
        var spec = new NetworkSpec { Inputs = 1, Hidden = [256], HiddenDropout = [0.1], Head = new HeadSpec { Tau = 50 } };
        var options = new TrainingOptions { Epochs = 200, BatchSize = 32, LearningRate = 3e-3, Seed = 2016 };
        var source = DataSource.Named(Toy, data.Rows) with { Split = "synthetic: 256 draws of x ~ U(-1, 1), seed 2016, every one trained on" };
        return TrainingPipeline.FitHoldingOut(data, source, testFraction: null, spec, options, description: "Toy 1-D regression: y = sin(3x) + N(0, 0.1^2), trained on x in [-1, 1].");
    }

    /// <summary>
    /// An image classifier: a small CNN with spatial dropout after each convolution and dropout before the head, trained on
    /// the training split (1,438 of 1,797) of the bundled 8x8 handwritten digits (pixels 0-16, light ink on dark) with random
    /// shifts, cutout and rotations.
    /// It serves the explorer's drawing canvas and shows what "I don't know" looks like on a picture that is not a digit.
    /// </summary>
    public static ModelPackage TrainDigits()
    {
        var spec = new NetworkSpec
        {
            InputShape = [1, 8, 8],
            Layers =
            [
                new LayerSpec { Type = LayerType.Conv2d, Out = 16, Kernel = 3, Padding = 1 },
                LayerSpec.Of(LayerType.Relu),
                new LayerSpec { Type = LayerType.Dropout2d, P = 0.1 },
                new LayerSpec { Type = LayerType.Conv2d, Out = 32, Kernel = 3, Padding = 1 },
                LayerSpec.Of(LayerType.Relu),
                new LayerSpec { Type = LayerType.Dropout2d, P = 0.1 },
                new LayerSpec { Type = LayerType.MaxPool2d, Kernel = 2 },
                LayerSpec.Of(LayerType.Flatten),
                LayerSpec.LinearTo(64),
                LayerSpec.Of(LayerType.Relu),
                LayerSpec.DropoutOf(0.5),
                LayerSpec.LinearTo(10),
            ],
            Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 10 },
        };
        var options = new TrainingOptions
        {
            Epochs = 30,
            BatchSize = 64,
            Optimizer = OptimizerKind.AdamW,
            LearningRate = 3e-3,
            WeightDecay = 1e-4,
            Seed = 2016,
            Image = new ImageAugmentation { Height = 8, Width = 8, MaxShift = 1, MaxRotationDegrees = 10, CutoutProbability = 0.3, CutoutSize = 2 },
        };
        // The training split of ImageDatasets' digits: its test split (the evaluation default for digits) stays unseen.
        var (rows, indices) = ImageDatasets.RowsOf(Digits, ImageSplit.Train);
        var source = new DataSource(Digits, null, rows, indices, "digits' test split held out (a seeded random 20 %, seed 0)");
        return TrainingPipeline.FitHoldingOut(
            ImageDatasets.LoadDigits(ImageSplit.Train).ToDataset(),
            source,
            testFraction: null,
            spec,
            options,
            description: "Handwritten digits (8x8, pixels 0-16, light on dark): a small CNN with spatial dropout. Send a picture to /models/digits/predict/image, or rows as [1][8][8] arrays.");
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
