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
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        TorchBackend.EnsureInitialized();
        options.Validate();
        Check(configurations, options);
        using var run = new Run(configurations, data, options, device ?? CPU);
        return run.Execute(progress, cancellationToken);
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

            if (spec.Activation == Activation.Gelu)
            {
                return "A stacked grid has no GELU (its gradients are written out for relu, tanh, sigmoid, elu and leakyRelu).";
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
    private sealed record Site(int Width, double[] Rates, int[] Ordinals)
    {
        public uint[] Codes { get; } = DropoutMasks.HostUnitCodesOf(Width);
    }

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

        /// <summary>
        /// Every weight and bias of every configuration in one vector, so an optimiser step is a handful of operations over
        /// it rather than a handful per tensor; layer l's weights are a [K, in, out] view of it, its biases [K, 1, out].
        /// </summary>
        private readonly Parameter parameters;
        private readonly List<(long Weights, long Biases, int In, int Out)> layout = [];

        /// <summary>Each element's weight decay: its configuration's lambda on kernel weights, 0 on biases.</summary>
        private readonly Tensor decay;

        /// <summary>Sites[0] is the input; Sites[i + 1] follows hidden layer i.</summary>
        private readonly Site[] sites;
        private readonly bool decoupled;
        private readonly bool decays;
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
            using (var scope = NewDisposeScope())
            {
                var linears = networks.Select(n => n.modules().OfType<Linear>().ToList()).ToList();
                var values = new List<Tensor>();
                var decays = new List<Tensor>();
                var lambdas = tensor(configurations.Select(c => (float)c.WeightDecay).ToArray(), [k, 1, 1]);
                long offset = 0;
                for (int layer = 0; layer < widths.Count - 1; layer++)
                {
                    int fanIn = widths[layer], fanOut = widths[layer + 1];
                    // Weights as [K, in, out] so a layer is one batched product over every configuration.
                    values.Add(stack(linears.Select(l => l[layer].weight!.detach().t()), 0).flatten());
                    values.Add(stack(linears.Select(l => l[layer].bias!.detach()), 0).flatten());
                    decays.Add(lambdas.expand(k, fanIn, fanOut).flatten());
                    decays.Add(zeros(k * fanOut));
                    layout.Add((offset, offset + ((long)k * fanIn * fanOut), fanIn, fanOut));
                    offset += (long)k * (fanIn + 1) * fanOut;
                }

                parameters = new Parameter(cat(values, 0).to(device));
                parameters.DetachFromDisposeScope();
                decay = cat(decays, 0).to(device).DetachFromDisposeScope();
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

            decoupled = options.Optimizer == OptimizerKind.AdamW || options.DecoupledWeightDecay;
            random = Trainer.DataOrder(options.Seed);
            decays = configurations.Any(c => c.WeightDecay > 0);
        }

        /// <param name="progress">After each epoch: the mean training loss of the configurations whose loss is still finite (NaN when none is).</param>
        public IReadOnlyList<(DropoutNetwork Network, TrainingSummary Summary)> Execute(IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
        {
            var clock = Stopwatch.StartNew();
            using var optimizer = Optimizer.Create(options, [parameters]);
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
                    float[] losses;
                    try
                    {
                        losses = Step(optimizer, batch, learningRate, step++);
                    }
                    catch (System.Runtime.InteropServices.ExternalException e) when (e.Message.Contains("without overflow", StringComparison.Ordinal))
                    {
                        // A step too large for float ("value cannot be converted to type float without overflow").
                        throw new ArithmeticException($"Training diverged: the update of step {step} is beyond float's range; lower the learning rate.", e);
                    }

                    for (int i = 0; i < k; i++)
                    {
                        lossSums[i] += losses[i] * batch.Length;
                    }
                }

                for (int i = 0; i < k; i++)
                {
                    histories[i].Add(new EpochRecord(epoch + 1, lossSums[i] / rows, null, null, learningRate));
                }

                if (progress is not null)
                {
                    var finite = lossSums.Where(double.IsFinite).ToArray();
                    var elapsed = clock.Elapsed;
                    progress.Report(new TrainingProgress(
                        epoch + 1, options.Epochs, finite.Length > 0 ? finite.Average() / rows : double.NaN, null, null, "", learningRate,
                        elapsed, elapsed / (epoch + 1) * (options.Epochs - epoch - 1)));
                }
            }

            double seconds = clock.Elapsed.TotalSeconds;
            return [.. Enumerable.Range(0, k).Select(i => (Unstack(i), new TrainingSummary(
                options.Epochs, options.Epochs, rows, histories[i][^1].TrainLoss, null, configurations[i].WeightDecay, options.Seed,
                seconds, StoppedEarly: false, histories[i])))];
        }

        /// <summary>
        /// One step of every configuration on the same rows; returns each configuration's batch loss. The gradients are
        /// written out (an MLP's backward pass is a few batched products), not taken by autograd: its graph and engine
        /// cost more than the arithmetic at these sizes. The sum of the configurations' MSE losses is differentiated, so
        /// each configuration's gradient is its own loss's.
        /// </summary>
        private float[] Step(Optimizer optimizer, ReadOnlySpan<int> batch, double learningRate, long step)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            int b = batch.Length, depth = layout.Count;
            var x = tensor(Trainer.GatherRows(data.Inputs, batch, shape.Inputs), [b, shape.Inputs], device: device);
            var y = tensor(Trainer.GatherRows(data.Targets, batch, outputs), [b, outputs], device: device);
            var stepSeed = MaskPlan.TrainingStepSeed(options.Seed, step);

            // Forward, keeping what the backward pass reads: each layer's masked input, its mask, and each hidden activation.
            var layerInputs = new Tensor[depth];
            var layerMasks = new Tensor?[depth];
            var preActivations = new Tensor[depth];
            var activations = new Tensor[depth];
            var h = x.unsqueeze(0).expand(k, b, shape.Inputs);
            for (int layer = 0; layer < depth; layer++)
            {
                layerMasks[layer] = Mask(sites[layer], b, stepSeed);
                layerInputs[layer] = layerMasks[layer] is { } mask ? h.mul(mask) : h;
                var (weights, biases) = Layer(layer);
                h = layerInputs[layer].bmm(weights).add_(biases, HeldScalars.One); // not baddbmm: TorchSharp 0.107 passes its arguments to libtorch in another order
                if (layer < depth - 1)
                {
                    preActivations[layer] = h;
                    h = Activate(h);
                    activations[layer] = h;
                }
            }

            var error = h.sub(y.unsqueeze(0));
            var losses = error.square().mean([1, 2]);

            // Backward: d loss_k / d output_k = 2 (output_k - y) / (B * outputs), then layer by layer down.
            using var scale = (2.0 / (b * outputs)).ToScalar();
            var gradient = error.mul(scale);
            var gradients = new Tensor[2 * depth];
            for (int layer = depth - 1; layer >= 0; layer--)
            {
                var (weights, _) = Layer(layer);
                gradients[2 * layer] = layerInputs[layer].transpose(1, 2).bmm(gradient).flatten();
                gradients[(2 * layer) + 1] = gradient.sum(1).flatten();
                if (layer > 0)
                {
                    gradient = gradient.bmm(weights.transpose(1, 2));
                    if (layerMasks[layer] is { } mask)
                    {
                        gradient.mul_(mask);
                    }

                    gradient = ActivationGradient(gradient, preActivations[layer - 1], activations[layer - 1]);
                }
            }

            parameters.grad = cat(gradients, 0);
            if (decays)
            {
                Decay(learningRate);
            }

            optimizer.Update();
            return losses.cpu().data<float>().ToArray();
        }

        /// <summary>
        /// Each configuration's mask of this site, [K, B, width] (null when no configuration drops anything here): the values its
        /// own network's <see cref="DropoutMasks"/> gives (same keys, unit codes and thresholds), written on the host.
        /// </summary>
        private unsafe Tensor? Mask(Site site, int b, ulong stepSeed)
        {
            if (site.Ordinals.All(o => o < 0))
            {
                return null;
            }

            int width = site.Width;
            // Written straight into a CPU tensor's native memory: a managed array this size would be a large-object
            // allocation every step.
            var mask = empty([k, b, width], ScalarType.Float32);
            Span<float> values;
            fixed (byte* data = mask.bytes)
            {
                values = new Span<float>(data, k * b * width); // libtorch memory: the GC never moves it
            }

            var codes = site.Codes;
            for (int i = 0; i < k; i++)
            {
                var block = values.Slice(i * b * width, b * width);
                if (site.Ordinals[i] < 0)
                {
                    block.Fill(1f);
                    continue;
                }

                double p = site.Rates[i];
                uint threshold = DropoutMasks.Threshold(p);
                float kept = (float)shape.DropoutKind.KeptScale(p);
                for (int row = 0; row < b; row++)
                {
                    var key = (uint)DropoutMasks.SampleKey(stepSeed, row, site.Ordinals[i]);
                    DropoutMasks.MaskRow(key, codes, threshold, kept, block.Slice(row * width, width));
                }
            }

            return device.type == DeviceType.CPU ? mask : mask.to(device);
        }

        private Tensor Activate(Tensor x) => shape.Activation switch
        {
            Activation.Relu => nn.functional.relu(x),
            Activation.Tanh => x.tanh(),
            Activation.Sigmoid => x.sigmoid(),
            Activation.Elu => nn.functional.elu(x, 1.0),
            Activation.LeakyRelu => nn.functional.leaky_relu(x),
            _ => throw new ArgumentOutOfRangeException(nameof(x), shape.Activation, "unknown activation"),
        };

        /// <summary>
        /// The gradient through the activation: <paramref name="gradient"/> with respect to its output, to its input
        /// <paramref name="input"/> (output <paramref name="output"/>), as PyTorch's backward functions compute it.
        /// </summary>
        private Tensor ActivationGradient(Tensor gradient, Tensor input, Tensor output)
        {
            var (zero, one) = (HeldScalars.Zero, HeldScalars.One);
            using var slope = 0.01.ToScalar();
            return shape.Activation switch
            {
                Activation.Relu => gradient.masked_fill(output.le(zero), zero),
                Activation.Tanh => gradient.mul(output.square().neg_().add_(one, one)),
                Activation.Sigmoid => gradient.mul(output.mul(output.neg().add_(one, one))),
                Activation.Elu => gradient.mul(where(input.gt(zero), ones_like(input), output.add(one, one))),
                Activation.LeakyRelu => gradient.mul(where(input.gt(zero), ones_like(input), full_like(input, slope))),
                _ => throw new ArgumentOutOfRangeException(nameof(gradient), shape.Activation, "no written-out gradient"),
            };
        }

        /// <summary>Layer <paramref name="layer"/>'s weights [K, in, out] and biases [K, 1, out]: views of the parameter vector.</summary>
        private (Tensor Weights, Tensor Biases) Layer(int layer)
        {
            var (weights, biases, fanIn, fanOut) = layout[layer];
            return (parameters.narrow(0, weights, (long)k * fanIn * fanOut).view(k, fanIn, fanOut), parameters.narrow(0, biases, (long)k * fanOut).view(k, 1, fanOut));
        }

        /// <summary>Trainer's weight decay on the kernel weights, each configuration with its own lambda.</summary>
        private void Decay(double learningRate)
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            if (decoupled)
            {
                using var minusRate = (-learningRate).ToScalar();
                parameters.mul_(decay.mul(minusRate).add_(HeldScalars.One, HeldScalars.One));
            }
            else
            {
                parameters.grad!.add_(parameters.mul(decay), HeldScalars.One);
            }
        }

        /// <summary>Configuration <paramref name="index"/>'s weights as the network its spec describes, in eval mode, on the CPU.</summary>
        private DropoutNetwork Unstack(int index)
        {
            var network = new DropoutNetwork(configurations[index].Network);
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var linears = network.modules().OfType<Linear>().ToList();
            for (int layer = 0; layer < layout.Count; layer++)
            {
                var (weights, biases) = Layer(layer);
                linears[layer].weight!.copy_(weights.select(0, index).t().cpu());
                linears[layer].bias!.copy_(biases.select(0, index).squeeze(0).cpu());
            }

            network.eval();
            return network;
        }

        public void Dispose()
        {
            parameters.Dispose();
            decay.Dispose();
        }
    }
}
