using System.CommandLine;
using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Cli;

internal static class TrainCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var output = new Option<string>("--out") { Description = "Directory to write the model package to (must not exist).", Required = true };
        var specFile = new Option<string?>("--spec") { Description = "Network spec JSON; its input and output counts are set from the data." };
        var optionsFile = new Option<string?>("--options") { Description = "Training options JSON; flags below override it." };
        var hidden = new Option<string?>("--hidden") { Description = "Hidden layer widths, e.g. 50 or 100,100 (default 50)." };
        var activation = new Option<string?>("--activation") { Description = "relu, tanh, gelu, sigmoid, elu, leakyrelu, identity." };
        var inputDropout = new Option<double?>("--input-dropout") { Description = "Dropout rate on the inputs (default 0; a regression MLP given no rate and no tau tunes them, see --tune-dropout)." };
        var dropout = new Option<string?>("--dropout") { Description = "Hidden dropout rate, one for all layers or one per layer (default 0.5; a regression MLP given no rate and no tau tunes them, see --tune-dropout)." };
        var dropoutKind = new Option<string?>("--dropout-kind") { Description = "inverted (default) or standard." };
        var normalization = new Option<string?>("--normalization") { Description = "none, batchnorm or layernorm." };
        var heteroscedastic = new Option<bool>("--heteroscedastic") { Description = "Regression head that learns the noise variance per input." };
        var tau = new Option<double?>("--tau") { Description = "Noise precision of the regression head, in standardised target units (default 1; tuned with the rates when neither is given)." };
        var testFraction = new Option<double?>("--test-fraction") { Description = "Hold out this share of rows and report test metrics after training." };
        var evaluateOnTest = new Option<bool>("--evaluate-test-split") { Description = "For an image dataset, score the model on its test split after training." };
        var samples = new Option<int>("--samples") { Description = "MC samples for the test metrics.", DefaultValueFactory = _ => 1000 };
        var tuneDropout = new Option<string?>("--tune-dropout") { Description = "Choose the dropout rate (inputs and hidden layers) from these by validation MC log-likelihood, e.g. 0.005,0.01,0.05,0.1 (regression MLPs; all points train as one network). A regression MLP given no --input-dropout, --dropout or --tau tunes on the default grid (0.005,0.01,0.05,0.1 x tau 1,2,5)." };
        var tuneTau = new Option<string?>("--tune-tau") { Description = "Choose tau (standardised target units) from these as well; default 1,2,5 when --tune-dropout is given." };
        var tuneSamples = new Option<int?>("--tune-samples") { Description = "MC samples for each grid point's validation score (default 1000)." };
        var flags = new TrainingFlags();
        var json = Cli.JsonOption();

        var command = new Command("train", "Train a dropout network on a CSV file or a bundled dataset and save it as a model package.");
        data.AddTo(command);
        foreach (var option in new Option[] { output, specFile, optionsFile, hidden, activation, inputDropout, dropout, dropoutKind, normalization, heteroscedastic, tau, testFraction, evaluateOnTest, samples, tuneDropout, tuneTau, tuneSamples, json })
        {
            command.Options.Add(option);
        }

        flags.AddTo(command);
        command.SetAction(parse => Cli.Run(() =>
        {
            var dataset = data.Load(parse);
            var spec = parse.GetValue(specFile) is { } specPath ? NetworkSpec.FromJson(File.ReadAllText(specPath)) : new NetworkSpec { Inputs = dataset.Columns };
            var options = flags.Apply(parse, parse.GetValue(optionsFile) is { } path ? ReadJson<TrainingOptions>(path) : new TrainingOptions(), dataset, spec);
            spec = spec with
            {
                Hidden = parse.GetValue(hidden) is { } h ? [.. Cli.Numbers(h, "--hidden").Select(v => (int)v)] : spec.Hidden,
                Activation = parse.GetValue(activation) is { } a ? Cli.ParseEnum<Activation>(a, "--activation") : spec.Activation,
                InputDropout = parse.GetValue(inputDropout) ?? spec.InputDropout,
                HiddenDropout = parse.GetValue(dropout) is { } d ? Cli.Numbers(d, "--dropout") : spec.HiddenDropout,
                DropoutKind = parse.GetValue(dropoutKind) is { } k ? Cli.ParseEnum<DropoutKind>(k, "--dropout-kind") : spec.DropoutKind,
                Normalization = parse.GetValue(normalization) is { } n ? Cli.ParseEnum<Normalization>(n, "--normalization") : spec.Normalization,
                Head = spec.Head with
                {
                    Kind = dataset.Task == TaskKind.Classification ? HeadKind.Classification : parse.GetValue(heteroscedastic) ? HeadKind.HeteroscedasticRegression : spec.Head.Kind,
                    Tau = parse.GetValue(tau) ?? spec.Head.Tau,
                },
            };

            // An image dataset's own test split, when asked for, instead of a random hold-out.
            var imageTest = parse.GetValue(testFraction) is null && parse.GetValue(evaluateOnTest) ? data.LoadImages(parse, parse.GetValue(data.Dataset), ImageSplit.Test) : null;
            var source = SourceOf(data, parse, dataset);
            TuneOptions? tune = null;
            if (parse.GetValue(tuneDropout) is not null || parse.GetValue(tuneTau) is not null || parse.GetValue(tuneSamples) is not null)
            {
                var defaults = new TuneOptions();
                tune = defaults with
                {
                    Dropout = parse.GetValue(tuneDropout) is { } rates ? Cli.Numbers(rates, "--tune-dropout") : defaults.Dropout,
                    Tau = parse.GetValue(tuneTau) is { } taus ? Cli.Numbers(taus, "--tune-tau") : defaults.Tau,
                    Samples = parse.GetValue(tuneSamples) ?? defaults.Samples,
                };
            }

            else if (parse.GetValue(specFile) is null && parse.GetValue(inputDropout) is null && parse.GetValue(dropout) is null && parse.GetValue(tau) is null
                     && spec.Head.Kind == HeadKind.Regression && TrainingPipeline.TuningProblem(dataset, TrainingPipeline.Fitted(spec, dataset), options, new TuneOptions()) is null)
            {
                // No rate and no tau stated: a regression network gets them as Gal and Ghahramani choose them, from the grid.
                tune = new TuneOptions();
            }

            var package = TrainingPipeline.FitHoldingOut(dataset, source, parse.GetValue(testFraction), spec, options, CPU, new ConsoleProgress(), $"Trained on {dataset.Name} by the uncertainty CLI.", tune, Cli.CancelOnCtrlC());
            if (package.Description.Tuning is { } tuning)
            {
                ConsoleProgress.Finish();
                Console.WriteLine($"tuned on {tuning.FitRows} rows, scored on {tuning.ValidationRows} (T = {tuning.Samples}) in {Cli.F(tuning.Seconds, 1)} s: dropout {tuning.Dropout}, tau {tuning.Tau}");
                foreach (var point in tuning.Grid)
                {
                    Console.WriteLine($"  dropout {point.Dropout,-6} tau {point.Tau,-6} validation LL {Cli.F(point.ValidationLogLikelihood)}");
                }
            }

            var record = package.Description.TrainingData!;
            var heldOut = record.HeldOutRows();
            Console.WriteLine($"trained on {record.Rows - heldOut.Length} of {record.Rows} rows of {dataset.Name} ({dataset.Columns} features, target '{dataset.TargetName}', {dataset.Task.ToString().ToLowerInvariant()}); held out: {heldOut.Length} rows ({record.Split})");
            // The rows FitHoldingOut held out of the given ones (the same seeded split).
            var test = imageTest ?? (parse.GetValue(testFraction) is { } fraction ? dataset.Subset(Splits.Random(dataset.Rows, fraction, unchecked((int)options.Seed)).Test) : null);
            var summary = package.Description.Training!;
            if (summary.StoppedEarly)
            {
                ConsoleProgress.Finish();
                Console.WriteLine($"stopped early after epoch {summary.Epochs}; restored epoch {summary.BestEpoch}");
            }

            var outputDirectory = parse.GetValue(output)!;
            var manifest = package.Save(outputDirectory);
            Console.WriteLine($"saved {outputDirectory} (weights sha256 {manifest.WeightsSha256[..12]}...) in {Cli.F(summary.Seconds, 1)} s, {Cli.F(summary.RowsPerSecond, 0)} rows/s");

            EvaluationReport? report = null;
            if (test is not null)
            {
                using var predictor = new McPredictor(package.Network, CPU, outputScale: package.Description.OutputScale);
                report = Evaluator.Evaluate(predictor, package.Description, test, parse.GetValue(samples), options.Seed);
                EvaluateCommand.Print(report);
            }
            else
            {
                package.Dispose();
            }

            Cli.WriteJson(parse.GetValue(json), new { model = outputDirectory, network = package.Description.Network, training = summary, tuning = package.Description.Tuning, trainingData = record, test = report });
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// What the rows of <paramref name="dataset"/> are, for the package's record: a --data file by its SHA-256, a bundled set by
    /// name, an image set's split by where its images sit in the whole set (so its other split is recorded as held out).
    /// </summary>
    private static DataSource SourceOf(DataOptions data, ParseResult parse, Dataset dataset)
    {
        if (parse.GetValue(data.Dataset) is not { } name)
        {
            return new DataSource(null, TrainingData.HashOf(File.ReadAllBytes(parse.GetValue(data.Data)!)), dataset.Rows);
        }

        if (!data.IsImages(parse, name))
        {
            return DataSource.Named(name, dataset.Rows);
        }

        var split = parse.GetValue(data.Split) is { } text ? Cli.ParseEnum<ImageSplit>(text, "--split") : ImageSplit.Train;
        var (rows, indices) = ImageDatasets.RowsOf(name, split);
        return new DataSource(name, null, rows, indices, $"{name}'s {split.ToString().ToLowerInvariant()} split");
    }

    public static T ReadJson<T>(string path) =>
        System.Text.Json.JsonSerializer.Deserialize<T>(File.ReadAllText(path), Cli.Json) ?? throw new InvalidDataException($"{path} is empty.");
}

/// <summary>Command-line flags for <see cref="TrainingOptions"/>; each one given overrides the base options.</summary>
internal sealed class TrainingFlags
{
    private readonly Option<int?> epochs = new("--epochs") { Description = "Training epochs (default 40)." };
    private readonly Option<int?> batchSize = new("--batch-size") { Description = "Mini-batch size (default 128)." };
    private readonly Option<string?> optimizer = new("--optimizer") { Description = "sgd, adam (default) or adamw." };
    private readonly Option<double?> learningRate = new("--lr") { Description = "Learning rate (default 0.001)." };
    private readonly Option<double?> momentum = new("--momentum") { Description = "SGD momentum (default 0.9)." };
    private readonly Option<string?> schedule = new("--schedule") { Description = "constant (default), step or cosine." };
    private readonly Option<double?> weightDecay = new("--weight-decay") { Description = "Weight decay lambda on Linear weights (coupled L2; decoupled with adamw or --decoupled)." };
    private readonly Option<bool> decoupled = new("--decoupled") { Description = "Decoupled weight decay for SGD/Adam too." };
    private readonly Option<double?> lengthScale = new("--length-scale") { Description = "Derive weight decay from a prior length-scale: l^2 (1-p) / (2 N tau)." };
    private readonly Option<double?> maxNorm = new("--max-norm") { Description = "Max-norm constraint on each unit's incoming weights." };
    private readonly Option<double?> validationFraction = new("--validation-fraction") { Description = "Hold out this share of the training rows for validation." };
    private readonly Option<int?> patience = new("--patience") { Description = "Early stopping: epochs without a better validation loss; the best epoch is restored." };
    private readonly Option<double?> labelSmoothing = new("--label-smoothing") { Description = "Label smoothing a (classification)." };
    private readonly Option<double?> mixup = new("--mixup") { Description = "Mixup alpha (lambda ~ Beta(alpha, alpha))." };
    private readonly Option<double?> noise = new("--noise") { Description = "Gaussian input noise std (standardised units)." };
    private readonly Option<bool> augmentImages = new("--augment-images") { Description = "Image augmentation for a bundled image dataset (digits): shifts of 1 pixel, cutout." };
    private readonly Option<ulong?> seed = new("--seed") { Description = "Seed (default 0)." };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { epochs, batchSize, optimizer, learningRate, momentum, schedule, weightDecay, decoupled, lengthScale, maxNorm, validationFraction, patience, labelSmoothing, mixup, noise, augmentImages, seed })
        {
            command.Options.Add(option);
        }
    }

    public TrainingOptions Apply(ParseResult parse, TrainingOptions options, Dataset dataset, NetworkSpec spec)
    {
        var image = spec.IsImage ? (Height: spec.InputShape![1], Width: spec.InputShape[2]) : BundledDatasets.All.FirstOrDefault(d => d.Name == dataset.Name)?.ImageShape;
        if (parse.GetValue(augmentImages) && image is null)
        {
            throw new ArgumentException($"--augment-images needs an image dataset; {dataset.Name} is tabular.");
        }

        // Shifts and cutout in proportion to the image: 1 pixel and 3x3 on 8x8 digits, 2 pixels and 7x7 on 28x28.
        var augmentation = image is { } size
            ? new ImageAugmentation
            {
                Height = size.Height,
                Width = size.Width,
                MaxShift = Math.Max(1, size.Height / 14),
                CutoutProbability = 0.5,
                CutoutSize = Math.Max(3, size.Height / 4),
                MaxRotationDegrees = spec.IsImage ? 10 : 0,
            }
            : null;

        return (options with
        {
            Epochs = parse.GetValue(epochs) ?? options.Epochs,
            BatchSize = parse.GetValue(batchSize) ?? options.BatchSize,
            Optimizer = parse.GetValue(optimizer) is { } o ? Cli.ParseEnum<OptimizerKind>(o, "--optimizer") : options.Optimizer,
            LearningRate = parse.GetValue(learningRate) ?? options.LearningRate,
            Momentum = parse.GetValue(momentum) ?? options.Momentum,
            Schedule = parse.GetValue(schedule) is { } s ? Cli.ParseEnum<LearningRateSchedule>(s, "--schedule") : options.Schedule,
            WeightDecay = parse.GetValue(weightDecay) ?? options.WeightDecay,
            DecoupledWeightDecay = parse.GetValue(decoupled) || options.DecoupledWeightDecay,
            PriorLengthScale = parse.GetValue(lengthScale) ?? options.PriorLengthScale,
            MaxNorm = parse.GetValue(maxNorm) ?? options.MaxNorm,
            ValidationFraction = parse.GetValue(validationFraction) ?? options.ValidationFraction,
            Patience = parse.GetValue(patience) ?? options.Patience,
            LabelSmoothing = parse.GetValue(labelSmoothing) ?? options.LabelSmoothing,
            MixupAlpha = parse.GetValue(mixup) ?? options.MixupAlpha,
            InputNoise = parse.GetValue(noise) ?? options.InputNoise,
            Image = parse.GetValue(augmentImages) ? augmentation : options.Image,
            Seed = parse.GetValue(seed) ?? options.Seed,
        }).Validate();
    }
}
