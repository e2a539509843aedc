using System.Diagnostics;
using TorchSharp;
using Uncertainty.Model.Data;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Native;
using Uncertainty.Model.Networks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Uncertainty.Model.Training;

/// <summary>
/// Training data in network units: standardised inputs [rows, inputs] and targets ([rows, outputs] for
/// regression, class indices for classification), an optional validation part, and the input scaling
/// (image augmentation works on raw pixels).
/// </summary>
public sealed record TrainingSet(float[] Inputs, float[] Targets)
{
    public float[]? ValidationInputs { get; init; }

    public float[]? ValidationTargets { get; init; }

    public Standardizer? InputScaling { get; init; }

    /// <summary>Regression target scaling, so validation RMSE is reported in target units.</summary>
    public Standardizer? TargetScaling { get; init; }
}

public sealed record EpochRecord(int Epoch, double TrainLoss, double? ValidationLoss, double? ValidationMetric, double LearningRate);

/// <summary>Reported after every epoch. The metric is validation RMSE (target units) for regression, accuracy for classification.</summary>
public sealed record TrainingProgress(
    int Epoch,
    int Epochs,
    double TrainLoss,
    double? ValidationLoss,
    double? ValidationMetric,
    string MetricName,
    double LearningRate,
    TimeSpan Elapsed,
    TimeSpan EstimatedRemaining);

/// <summary>What training did, stored in the model package.</summary>
public sealed record TrainingSummary(
    int Epochs,
    int BestEpoch,
    int Rows,
    double FinalLoss,
    double? BestValidationLoss,
    double WeightDecay,
    ulong Seed,
    double Seconds,
    bool StoppedEarly,
    IReadOnlyList<EpochRecord> History)
{
    /// <summary>Training throughput: rows (images) per second over every epoch run.</summary>
    public double RowsPerSecond => Seconds > 0 ? (double)Rows * Epochs / Seconds : 0;
}

/// <summary>
/// Mini-batch training with the regularisation toolbox: SGD/Adam/AdamW, learning-rate schedules,
/// coupled or decoupled weight decay (or Gal's prior-derived decay), max-norm, early stopping, label
/// smoothing, mixup, input noise and image augmentation. Deterministic by seed: batches, augmentation and
/// dropout masks come from the seed, never from TorchSharp's global RNG.
/// </summary>
public static class Trainer
{
    /// <summary>Builds a network with weights drawn from <paramref name="seed"/>; normalisation layers keep their (1, 0) start.</summary>
    public static DropoutNetwork CreateNetwork(NetworkSpec spec, ulong seed, WeightInitialization initialization = WeightInitialization.Default)
    {
        TorchBackend.EnsureInitialized();
        var network = new DropoutNetwork(spec);
        using var generator = new Generator(seed);
        using var noGrad = no_grad();
        var parameters = network.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, weight) in parameters.Where(p => IsKernelWeight(p.Key, p.Value)))
        {
            var bias = parameters.GetValueOrDefault(name[..^"weight".Length] + "bias");
            // A kernel is [out, in, receptive field...]: a linear weight's field is 1, a k x k convolution's k^2.
            long receptiveField = weight.numel() / (weight.shape[0] * weight.shape[1]);
            long fanOut = weight.shape[0] * receptiveField, fanIn = weight.shape[1] * receptiveField;
            var bound = initialization == WeightInitialization.Glorot ? Math.Sqrt(6.0 / (fanIn + fanOut)) : 1 / Math.Sqrt(fanIn);
            // Scalars held in using-scopes: see Optimizer for why temporaries are avoided.
            using var width = (2 * bound).ToScalar();
            using var offset = bound.ToScalar();
            weight.copy_(rand(weight.shape, generator: generator).mul_(width).sub_(offset));
            if (bias is null)
            {
                continue;
            }

            if (initialization == WeightInitialization.Glorot)
            {
                bias.zero_();
            }
            else
            {
                bias.copy_(rand(bias.shape, generator: generator).mul_(width).sub_(offset));
            }
        }

        // Sequence layers start as PyTorch starts the same modules (embeddings N(0, 1), recurrent weights U(±1/sqrt(hidden)), ...).
        foreach (var layer in network.modules().OfType<SequenceLayer>())
        {
            layer.ResetParameters(generator);
        }

        return network;
    }

    public static TrainingSummary Train(
        DropoutNetwork network,
        TrainingSet data,
        TrainingOptions options,
        Device? device = null,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        TorchBackend.EnsureInitialized();
        options.Validate();
        var run = new Run(network, data, options, device ?? CPU);
        return run.Execute(progress, cancellationToken);
    }

    /// <summary>The effective weight decay lambda (gradient convention) for this network and data.</summary>
    public static double WeightDecayFor(NetworkSpec spec, int rows, TrainingOptions options) =>
        options.PriorLengthScale is { } lengthScale
            ? Regularization.WeightDecayFromPrior(lengthScale, spec.FirstHiddenDropout, rows, spec.Head.Tau)
            : options.WeightDecay;

    /// <summary>Linear and convolution weights (2-D and above): initialised from the seed, decayed and max-normed; normalisation scales are 1-D.</summary>
    internal static bool IsKernelWeight(string name, Tensor parameter) => name.EndsWith("weight", StringComparison.Ordinal) && parameter.dim() >= 2;

    /// <summary>The generator of the epochs' data order (and host-side augmentation): the same from the same seed, for every trainer.</summary>
    internal static Random DataOrder(ulong seed) => new(unchecked((int)DropoutMasks.SplitMix64(seed ^ 0x5EED)));

    /// <summary>Rows <paramref name="rows"/> of <paramref name="source"/> (<paramref name="width"/> values each), in that order.</summary>
    internal static float[] GatherRows(float[] source, ReadOnlySpan<int> rows, int width)
    {
        var values = new float[rows.Length * width];
        for (int i = 0; i < rows.Length; i++)
        {
            source.AsSpan(rows[i] * width, width).CopyTo(values.AsSpan(i * width));
        }

        return values;
    }

    /// <summary>The learning rate of epoch <paramref name="epoch"/> (0-based).</summary>
    public static double LearningRateAt(TrainingOptions options, int epoch) => options.Schedule switch
    {
        LearningRateSchedule.Step => options.LearningRate * Math.Pow(options.StepGamma, epoch / options.StepEpochs),
        LearningRateSchedule.Cosine => options.MinLearningRate + ((options.LearningRate - options.MinLearningRate) * (1 + Math.Cos(Math.PI * epoch / options.Epochs)) / 2),
        _ => options.LearningRate,
    };

    /// <summary>One training run's state, so the loop reads as the steps it takes.</summary>
    private sealed class Run
    {
        private readonly DropoutNetwork network;
        private readonly TrainingSet data;
        private readonly TrainingOptions options;
        private readonly Device device;
        private readonly NetworkSpec spec;
        private readonly int rows;
        private readonly int targetWidth;
        private readonly double weightDecay;
        private readonly bool decoupled;
        private readonly Random random;
        private readonly List<Parameter> decayed;
        private readonly float blank;

        public Run(DropoutNetwork network, TrainingSet data, TrainingOptions options, Device device)
        {
            this.network = network;
            this.data = data;
            this.options = options;
            this.device = device;
            spec = network.Spec;
            rows = data.Inputs.Length / spec.Inputs;
            if (rows == 0 || data.Inputs.Length != rows * spec.Inputs)
            {
                throw new ArgumentException($"Expected rows x {spec.Inputs} inputs, got {data.Inputs.Length} values.", nameof(data));
            }

            if (options.MismatchWith(spec) is { } mismatch)
            {
                throw new ArgumentException(mismatch, nameof(options));
            }

            // Token ids reach the embedding's index_select as they are: one outside the vocabulary fails deep in libtorch
            // (a device-side assert on a GPU), a fraction is truncated to another word.
            Packaging.ModelDescription.CheckTokenIds(spec, data.Inputs, nameof(data));
            Packaging.ModelDescription.CheckTokenIds(spec, data.ValidationInputs ?? [], nameof(data));

            if (options.Image is not null)
            {
                if (data.InputScaling is null)
                {
                    throw new ArgumentException("Image augmentation needs the input scaling (it works on raw pixels).", nameof(options));
                }

                // A blank pixel in network units: what shifted-in borders, cutout and erasing fill with.
                blank = data.InputScaling!.Transform([0f])[0];
            }

            targetWidth = spec.Head.Outputs;
            weightDecay = WeightDecayFor(spec, rows, options);
            decoupled = options.Optimizer == OptimizerKind.AdamW || options.DecoupledWeightDecay;
            random = DataOrder(options.Seed);
            // Move first: Module.to(device) replaces the parameter objects, so references taken earlier go stale.
            network.to(device);
            decayed = [.. network.named_parameters().Where(p => IsKernelWeight(p.name, p.parameter)).Select(p => p.parameter)];
        }

        private bool IsClassifier => spec.Head.Kind == HeadKind.Classification;

        public TrainingSummary Execute(IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
        {
            var clock = Stopwatch.StartNew();
            using var masks = new DropoutMasks(device);
            using var optimizer = CreateOptimizer();
            var history = new List<EpochRecord>();
            Dictionary<string, Tensor>? best = null;
            double? bestLoss = null;
            int bestEpoch = 0, sinceBest = 0;
            long step = 0;
            var order = Enumerable.Range(0, rows).ToArray();
            bool stoppedEarly = false;

            for (int epoch = 0; epoch < options.Epochs; epoch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                double learningRate = LearningRateAt(options, epoch);
                optimizer.LearningRate = learningRate;

                network.train();
                random.Shuffle(order);
                double lossSum = 0;
                for (int start = 0; start < rows; start += options.BatchSize)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var batch = order.AsSpan(start, Math.Min(options.BatchSize, rows - start));
                    lossSum += Step(optimizer, masks, batch, learningRate, step++) * batch.Length;
                }

                var (validationLoss, metric) = Validate();
                history.Add(new EpochRecord(epoch + 1, lossSum / rows, validationLoss, metric, learningRate));
                if (validationLoss is { } loss && (bestLoss is null || loss < bestLoss))
                {
                    bestLoss = loss;
                    bestEpoch = epoch + 1;
                    sinceBest = 0;
                    if (options.Patience is not null)
                    {
                        best = Snapshot(best);
                    }
                }
                else
                {
                    sinceBest++;
                }

                var elapsed = clock.Elapsed;
                progress?.Report(new TrainingProgress(
                    epoch + 1, options.Epochs, lossSum / rows, validationLoss, metric, IsClassifier ? "accuracy" : "rmse",
                    learningRate, elapsed, elapsed / (epoch + 1) * (options.Epochs - epoch - 1)));

                if (options.Patience is { } patience && sinceBest >= patience)
                {
                    stoppedEarly = true;
                    break;
                }
            }

            if (best is not null)
            {
                Restore(best);
            }

            network.eval();
            return new TrainingSummary(
                history.Count,
                bestLoss is null ? history.Count : bestEpoch,
                rows,
                history[^1].TrainLoss,
                bestLoss,
                weightDecay,
                options.Seed,
                clock.Elapsed.TotalSeconds,
                stoppedEarly,
                history);
        }

        private Optimizer CreateOptimizer() => Optimizer.Create(options, [.. network.parameters()]);

        /// <summary>One optimisation step on <paramref name="batch"/>; returns the batch loss.</summary>
        private double Step(Optimizer optimizer, DropoutMasks masks, ReadOnlySpan<int> batch, double learningRate, long step)
        {
            var (inputs, targets) = Batch(batch);
            using var scope = NewDisposeScope();
            optimizer.ZeroGrad();
            var x = tensor(inputs, [batch.Length, spec.Inputs], device: device);
            if (options.Image is { } image && spec.IsImage)
            {
                // Image networks augment on the training device, the whole batch in a few tensor ops.
                x = BatchImageAugmenter.Apply(x.view([batch.Length, .. spec.InputShape!.Select(extent => (long)extent)]), image, blank, options.Seed, step).view(batch.Length, spec.Inputs);
            }

            var y = tensor(targets, [batch.Length, targetWidth], device: device);
            var plan = MaskPlan.ForTraining(options.Seed, step, batch.Length, network.DropoutLayers, device);
            var loss = Loss(network.RunStages(x, 0, network.StageCount, plan, masks), y);
            loss.backward();
            if (weightDecay > 0)
            {
                Decay(learningRate);
            }

            optimizer.Update();
            if (options.MaxNorm is { } maxNorm)
            {
                using var noGrad = no_grad();
                foreach (var weight in decayed)
                {
                    // Dimension 0 indexes units: a linear row or a convolution filter is one unit's incoming weights.
                    weight.copy_(weight.renorm(2, 0, (float)maxNorm));
                }
            }

            return loss.item<float>();
        }

        /// <summary>Weight decay on the linear and convolution weights: into the gradient (coupled) or straight onto the weights (decoupled).</summary>
        private void Decay(double learningRate)
        {
            using var noGrad = no_grad();
            using var factor = (decoupled ? 1 - (learningRate * weightDecay) : weightDecay).ToScalar();
            foreach (var weight in decayed)
            {
                if (decoupled)
                {
                    weight.mul_(factor);
                }
                else
                {
                    weight.grad!.add_(weight, alpha: factor);
                }
            }
        }

        /// <summary>The batch's inputs and targets after augmentation, label smoothing and mixup, on the host.</summary>
        private (float[] Inputs, float[] Targets) Batch(ReadOnlySpan<int> batch)
        {
            int width = spec.Inputs;
            var inputs = GatherRows(data.Inputs, batch, width);

            if (options.Image is { } image && !spec.IsImage)
            {
                // An MLP over image pixels standardised per pixel: augmented on the host in raw pixel values.
                var scaling = data.InputScaling!;
                for (int i = 0; i < batch.Length; i++)
                {
                    var row = inputs.AsSpan(i * width, width);
                    for (int j = 0; j < width; j++)
                    {
                        row[j] = (float)scaling.Inverse(row[j], j);
                    }

                    ImageAugmenter.Apply(row, image, random);
                    scaling.Transform(row).CopyTo(row);
                }
            }

            if (options.InputNoise > 0)
            {
                Regularization.AddGaussianNoise(inputs, options.InputNoise, random);
            }

            var targets = Targets(data.Targets, batch, options.LabelSmoothing);
            if (options.MixupAlpha > 0)
            {
                Regularization.Mixup(inputs, width, targets, targetWidth, options.MixupAlpha, random);
            }

            return (inputs, targets);
        }

        /// <summary>Targets of the given rows: soft labels for classification, values for regression.</summary>
        private float[] Targets(float[] source, ReadOnlySpan<int> batch, double smoothing)
        {
            if (IsClassifier)
            {
                var labels = new int[batch.Length];
                for (int i = 0; i < batch.Length; i++)
                {
                    labels[i] = (int)source[batch[i]];
                }

                return Regularization.SmoothedTargets(labels, targetWidth, smoothing);
            }

            return GatherRows(source, batch, targetWidth);
        }

        private Tensor Loss(Tensor output, Tensor target)
        {
            switch (spec.Head.Kind)
            {
                case HeadKind.Classification:
                    return -(target * nn.functional.log_softmax(output, 1)).sum(1).mean();
                case HeadKind.HeteroscedasticRegression:
                    var mean = output.narrow(1, 0, targetWidth);
                    var logVariance = output.narrow(1, targetWidth, targetWidth);
                    using (var half = 0.5.ToScalar())
                    {
                        return (logVariance + ((target - mean).square() * (-logVariance).exp())).mean().mul(half);
                    }
                default:
                    return nn.functional.mse_loss(output, target);
            }
        }

        /// <summary>Deterministic (weight-scaled) loss and metric on the validation rows, if any.</summary>
        private (double? Loss, double? Metric) Validate()
        {
            if (data.ValidationInputs is not { Length: > 0 } inputs || data.ValidationTargets is not { } targets)
            {
                return (null, null);
            }

            network.eval();
            using var scope = NewDisposeScope();
            using var inference = inference_mode();
            int count = targets.Length / (IsClassifier ? 1 : targetWidth);
            var all = Enumerable.Range(0, count).ToArray();
            var y = tensor(Targets(targets, all, smoothing: 0), [count, targetWidth], device: device);
            // In batches within the CPU chunk budget: a whole validation set of images in one pass would hold gigabytes of activations.
            int batchRows = (int)Math.Clamp(McOptions.CpuChunkElements / spec.MaxWidth, 1, 4096);
            var outputs = new List<Tensor>();
            for (int start = 0; start < count; start += batchRows)
            {
                int rowsHere = Math.Min(batchRows, count - start);
                outputs.Add(network.call(tensor(inputs.AsSpan(start * spec.Inputs, rowsHere * spec.Inputs).ToArray(), [rowsHere, spec.Inputs], device: device)));
            }

            var output = cat(outputs, 0);
            double loss = Loss(output, y).item<float>();
            double metric = IsClassifier
                ? output.argmax(1).eq(y.argmax(1)).to(ScalarType.Float64).mean().item<double>()
                : Math.Sqrt((output.narrow(1, 0, targetWidth) - y).square().mean().item<float>()) * (data.TargetScaling?.Std[0] ?? 1);
            network.train();
            return (loss, metric);
        }

        private Dictionary<string, Tensor> Snapshot(Dictionary<string, Tensor>? previous)
        {
            foreach (var tensor in previous?.Values ?? Enumerable.Empty<Tensor>())
            {
                tensor.Dispose();
            }

            return network.state_dict().ToDictionary(kv => kv.Key, kv =>
            {
                var copy = kv.Value.detach().clone();
                copy.DetachFromDisposeScope();
                return copy;
            });
        }

        private void Restore(Dictionary<string, Tensor> best)
        {
            using var noGrad = no_grad();
            foreach (var (name, value) in network.state_dict())
            {
                value.copy_(best[name]);
                best[name].Dispose();
            }
        }
    }
}
