using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Native;
using Uncertainty.Model.Networks;
using static TorchSharp.torch;

namespace Uncertainty.Model.Training;

/// <summary>One point of a hyper-parameter grid: its network (the shape every point shares, its own dropout rates and tau) and its weight decay.</summary>
public sealed record GridConfiguration(NetworkSpec Network, double WeightDecay);

/// <summary>
/// Trains the K configurations of a grid as one network with stacked weights ([K, in, out], batched matrix products,
/// per-configuration masks and decay) instead of K networks one after another: a small MLP's step is dominated by
/// per-operation overhead, so K configurations cost little more than one. Configuration k ends with the weights
/// <see cref="Trainer.Train"/> gives <c>Trainer.CreateNetwork(spec_k, seed)</c> with its weight decay: the same
/// initial weights, data order and dropout masks (masks are a function of seed, step, row, layer and unit), and
/// gradients that only its own loss reaches. Plain regression MLPs (the shorthand spec) with SGD, Adam or AdamW.
/// </summary>
public static class GridTrainer
{
    public static IReadOnlyList<(DropoutNetwork Network, TrainingSummary Summary)> Train(
        IReadOnlyList<GridConfiguration> configurations,
        TrainingSet data,
        TrainingOptions options,
        Device? device = null,
        CancellationToken cancellationToken = default)
    {
        TorchBackend.EnsureInitialized();
        options.Validate();
        Check(configurations, options);
        using var run = new Run(configurations, data, options, device ?? CPU);
        return run.Execute(cancellationToken);
    }

    /// <summary>Why these configurations and options cannot be stacked; null when they can.</summary>
    public static string? Unsupported(IReadOnlyList<GridConfiguration> configurations, TrainingOptions options)
    {
        if (configurations.Count == 0)
        {
            return "The grid has no configurations.";
        }

        var first = configurations[0].Network;
        foreach (var (spec, decay) in configurations)
        {
            if (spec.Layers is not null || spec.Head.Kind != HeadKind.Regression || spec.Normalization != Normalization.None)
            {
                return "Only plain regression MLPs (inputs, hidden widths, dropout rates; no layer list, no normalisation) train as a stacked grid.";
            }

            if (spec.Inputs != first.Inputs || !spec.HiddenWidths.SequenceEqual(first.HiddenWidths) || spec.Activation != first.Activation
                || spec.Head.Outputs != first.Head.Outputs || spec.DropoutKind != first.DropoutKind)
            {
                return "The grid's configurations must share the network's shape (inputs, hidden widths, activation, outputs, dropout kind); only rates and tau differ.";
            }

            if (!(decay >= 0) || !double.IsFinite(decay))
            {
                return "A configuration's weight decay must be non-negative.";
            }
        }

        return options switch
        {
            { ValidationFraction: > 0 } => "The caller scores the grid on its own validation rows; validationFraction does not apply.",
            { PriorLengthScale: not null } => "The grid gives each configuration its weight decay; priorLengthScale does not apply.",
            { MaxNorm: not null } or { Patience: not null } or { LabelSmoothing: > 0 } or { MixupAlpha: > 0 } or { InputNoise: > 0 } or { Image: not null }
                => "A stacked grid trains without max-norm, early stopping, label smoothing, mixup, input noise or augmentation.",
            _ => null,
        };
    }

    private static void Check(IReadOnlyList<GridConfiguration> configurations, TrainingOptions options)
    {
        if (Unsupported(configurations, options) is { } reason)
        {
            throw new ArgumentException(reason, nameof(configurations));
        }
    }

    /// <summary>A dropout site of the MLP: before the first linear layer (the input) or after hidden layer i's activation.</summary>
    private sealed record Site(int Width, double[] Rates, int[] Ordinals);

    private sealed class Run : IDisposable
    {
        private readonly IReadOnlyList<GridConfiguration> configurations;
        private readonly TrainingSet data;
        private readonly TrainingOptions options;
        private readonly Device device;
        private readonly NetworkSpec shape;
        private readonly int k;
        private readonly int rows;
        private readonly int outputs;
        private readonly List<(Parameter Weight, Parameter Bias)> layers = [];

        /// <summary>Sites[0] is the input; Sites[i + 1] follows hidden layer i.</summary>
        private readonly Site[] sites;
        private readonly int streams;
        private readonly Tensor decay;
        private readonly bool decoupled;
        private readonly Random random;

        public Run(IReadOnlyList<GridConfiguration> configurations, TrainingSet data, TrainingOptions options, Device device)
        {
            this.configurations = configurations;
            this.data = data;
            this.options = options;
            this.device = device;
            shape = configurations[0].Network;
            k = configurations.Count;
            outputs = shape.Head.Outputs;
            rows = data.Inputs.Length / shape.Inputs;
            if (rows == 0 || data.Inputs.Length != rows * shape.Inputs || data.Targets.Length != rows * outputs)
            {
                throw new ArgumentException($"Expected rows x {shape.Inputs} inputs and rows x {outputs} targets, got {data.Inputs.Length} and {data.Targets.Length} values.", nameof(data));
            }

            // Every configuration starts where its own network would: Trainer.CreateNetwork with the run's seed.
            var widths = new List<int> { shape.Inputs };
            widths.AddRange(shape.HiddenWidths);
            widths.Add(outputs);
            var networks = configurations.Select(c => Trainer.CreateNetwork(c.Network, options.Seed, options.Initialization)).ToList();
            using (var noGrad = no_grad())
            {
                var linears = networks.Select(n => n.modules().OfType<Linear>().ToList()).ToList();
                for (int layer = 0; layer < widths.Count - 1; layer++)
                {
                    // Weights as [K, in, out] so a layer is one baddbmm over every configuration.
                    var weight = stack(linears.Select(l => l[layer].weight!.detach().t()), 0).contiguous().to(device);
                    var bias = stack(linears.Select(l => l[layer].bias!.detach().unsqueeze(0)), 0).contiguous().to(device);
                    layers.Add((new Parameter(weight), new Parameter(bias)));
                }
            }

            foreach (var network in networks)
            {
                network.Dispose();
            }

            // Each configuration numbers its positive-rate sites as its own network does (a zero rate draws no stream).
            sites = new Site[widths.Count - 1];
            var next = new int[k];
            for (int s = 0; s < sites.Length; s++)
            {
                var rates = configurations.Select(c => s == 0 ? c.Network.InputDropout : c.Network.HiddenDropoutAt(s - 1)).ToArray();
                var ordinals = rates.Select((rate, i) => rate > 0 ? next[i]++ : -1).ToArray();
                sites[s] = new Site(widths[s], rates, ordinals);
            }

            streams = next.Max();
            decay = tensor(configurations.Select(c => (float)c.WeightDecay).ToArray(), [k, 1, 1], device: device);
            decoupled = options.Optimizer == OptimizerKind.AdamW || options.DecoupledWeightDecay;
            // The data order of Trainer: the same generator from the same seed.
            random = new Random(unchecked((int)DropoutMasks.SplitMix64(options.Seed ^ 0x5EED)));
        }

        public IReadOnlyList<(DropoutNetwork Network, TrainingSummary Summary)> Execute(CancellationToken cancellationToken)
        {
            var clock = Stopwatch.StartNew();
            using var masks = new DropoutMasks(device);
            IReadOnlyList<Parameter> parameters = [.. layers.SelectMany(l => new[] { l.Weight, l.Bias })];
            using var optimizer = Optimizer.Create(options, parameters);
            var histories = Enumerable.Range(0, k).Select(_ => new List<EpochRecord>()).ToArray();
            var order = Enumerable.Range(0, rows).ToArray();
            var lossSums = new double[k];
            long step = 0;
            for (int epoch = 0; epoch < options.Epochs; epoch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                double learningRate = Trainer.LearningRateAt(options, epoch);
                optimizer.LearningRate = learningRate;
                random.Shuffle(order);
                Array.Clear(lossSums);
                for (int start = 0; start < rows; start += options.BatchSize)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var batch = order.AsSpan(start, Math.Min(options.BatchSize, rows - start));
                    var losses = Step(optimizer, masks, batch, learningRate, step++);
                    for (int i = 0; i < k; i++)
                    {
                        lossSums[i] += losses[i] * batch.Length;
                    }
                }

                for (int i = 0; i < k; i++)
                {
                    histories[i].Add(new EpochRecord(epoch + 1, lossSums[i] / rows, null, null, learningRate));
                }
            }

            double seconds = clock.Elapsed.TotalSeconds;
            return [.. Enumerable.Range(0, k).Select(i => (Unstack(i), new TrainingSummary(
                options.Epochs, options.Epochs, rows, histories[i][^1].TrainLoss, null, configurations[i].WeightDecay, options.Seed,
                seconds, StoppedEarly: false, histories[i])))];
        }

        /// <summary>One step of every configuration on the same rows; returns each configuration's batch loss.</summary>
        private float[] Step(Optimizer optimizer, DropoutMasks masks, ReadOnlySpan<int> batch, double learningRate, long step)
        {
            using var scope = NewDisposeScope();
            optimizer.ZeroGrad();
            int b = batch.Length;
            var x = tensor(Gather(data.Inputs, batch, shape.Inputs), [b, shape.Inputs], device: device);
            var y = tensor(Gather(data.Targets, batch, outputs), [b, outputs], device: device);
            var plan = MaskPlan.ForTraining(options.Seed, step, b, streams, device);
            var h = x.unsqueeze(0).expand(k, b, shape.Inputs);
            for (int layer = 0; layer < layers.Count; layer++)
            {
                h = Dropout(h, sites[layer], plan, masks);
                var (weight, bias) = layers[layer];
                h = h.bmm(weight).add_(bias); // not baddbmm: TorchSharp 0.107 passes its arguments to libtorch in another order
                if (layer < layers.Count - 1)
                {
                    h = Activate(h);
                }
            }

            // Configuration k's loss is Trainer's MSE of its own outputs; the sum sends each gradient to its own weights only.
            var losses = (h - y.unsqueeze(0)).square().mean([1, 2]);
            losses.sum().backward();
            if (configurations.Any(c => c.WeightDecay > 0))
            {
                Decay(learningRate);
            }

            optimizer.Update();
            return losses.detach().cpu().data<float>().ToArray();
        }

        /// <summary>h [K, B, width] times each configuration's mask of this site, built as its own network builds it.</summary>
        private Tensor Dropout(Tensor h, Site site, MaskPlan plan, DropoutMasks masks)
        {
            if (site.Ordinals.All(o => o < 0))
            {
                return h;
            }

            var rows = new Tensor[k];
            var cache = new Dictionary<(int, double), Tensor>();
            for (int i = 0; i < k; i++)
            {
                var key = (site.Ordinals[i], site.Rates[i]);
                if (!cache.TryGetValue(key, out var mask))
                {
                    mask = key.Item1 < 0
                        ? ones([h.shape[1], site.Width], device: device)
                        : masks.Mask(plan, key.Item1, site.Width, key.Item2, KeptScale(key.Item2), ScalarType.Float32);
                    cache[key] = mask;
                }

                rows[i] = mask;
            }

            return h.mul(stack(rows, 0));
        }

        private double KeptScale(double p) => shape.DropoutKind == DropoutKind.Inverted ? 1 / (1 - p) : 1;

        private Tensor Activate(Tensor x) => shape.Activation switch
        {
            Activation.Relu => nn.functional.relu(x),
            Activation.Tanh => x.tanh(),
            Activation.Sigmoid => x.sigmoid(),
            Activation.Gelu => nn.functional.gelu(x),
            Activation.Elu => nn.functional.elu(x, 1.0),
            Activation.LeakyRelu => nn.functional.leaky_relu(x),
            _ => throw new ArgumentOutOfRangeException(nameof(x), shape.Activation, "unknown activation"),
        };

        /// <summary>Trainer's weight decay on the kernel weights, each configuration with its own lambda.</summary>
        private void Decay(double learningRate)
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            foreach (var (weight, _) in layers)
            {
                if (decoupled)
                {
                    using var minusRate = (-learningRate).ToScalar();
                    using var one = 1.0.ToScalar();
                    weight.mul_(decay.mul(minusRate).add_(one));
                }
                else
                {
                    weight.grad!.add_(weight.mul(decay));
                }
            }
        }

        /// <summary>Configuration <paramref name="index"/>'s weights as the network its spec describes, in eval mode, on the CPU.</summary>
        private DropoutNetwork Unstack(int index)
        {
            var network = new DropoutNetwork(configurations[index].Network);
            using var noGrad = no_grad();
            var linears = network.modules().OfType<Linear>().ToList();
            for (int layer = 0; layer < layers.Count; layer++)
            {
                linears[layer].weight!.copy_(layers[layer].Weight.select(0, index).t().cpu());
                linears[layer].bias!.copy_(layers[layer].Bias.select(0, index).squeeze(0).cpu());
            }

            network.eval();
            return network;
        }

        private static float[] Gather(float[] source, ReadOnlySpan<int> batch, int width)
        {
            var values = new float[batch.Length * width];
            for (int i = 0; i < batch.Length; i++)
            {
                source.AsSpan(batch[i] * width, width).CopyTo(values.AsSpan(i * width));
            }

            return values;
        }

        public void Dispose()
        {
            foreach (var (weight, bias) in layers)
            {
                weight.Dispose();
                bias.Dispose();
            }

            decay.Dispose();
        }
    }
}
