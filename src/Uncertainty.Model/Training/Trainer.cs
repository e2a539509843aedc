using TorchSharp;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Native;
using Uncertainty.Model.Networks;
using static TorchSharp.torch;

namespace Uncertainty.Model.Training;

public sealed record TrainingOptions
{
    public int Epochs { get; init; } = 40;

    public int BatchSize { get; init; } = 128;

    public double LearningRate { get; init; } = 1e-3;

    /// <summary>L2 penalty passed to Adam (coupled weight decay).</summary>
    public double WeightDecay { get; init; }

    /// <summary>Seeds the initial weights, the shuffling and the dropout masks: same seed and data, same weights.</summary>
    public ulong Seed { get; init; }
}

/// <summary>What training did, stored in the model package.</summary>
public sealed record TrainingSummary(int Epochs, int Rows, double FinalLoss, ulong Seed, double Seconds);

/// <summary>
/// A basic mini-batch trainer: Adam on MSE (fixed-noise regression), Gaussian NLL (heteroscedastic)
/// or cross-entropy (classification). Deterministic by seed: it never touches TorchSharp's global RNG.
/// </summary>
public static class Trainer
{
    /// <summary>Builds a network with weights drawn from <paramref name="seed"/> (PyTorch's default Linear init).</summary>
    public static DropoutMlp CreateNetwork(NetworkSpec spec, ulong seed)
    {
        TorchBackend.EnsureInitialized();
        var network = new DropoutMlp(spec);
        using var generator = new Generator(seed);
        using var noGrad = no_grad();
        foreach (var (name, parameter) in network.named_parameters())
        {
            // Linear layers: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias; norms keep their (1, 0) init.
            if (!name.EndsWith("weight", StringComparison.Ordinal) || parameter.dim() != 2)
            {
                continue;
            }

            var bound = 1 / Math.Sqrt(parameter.shape[1]);
            var biasName = name[..^"weight".Length] + "bias";
            parameter.copy_(rand(parameter.shape, generator: generator).mul_(2 * bound).sub_(bound));
            var bias = network.named_parameters().First(p => p.name == biasName).parameter;
            bias.copy_(rand(bias.shape, generator: generator).mul_(2 * bound).sub_(bound));
        }

        return network;
    }

    /// <summary>
    /// Trains <paramref name="network"/> in place on standardised inputs [rows, inputs] and targets:
    /// [rows, outputs] for regression, class indices for classification.
    /// </summary>
    public static TrainingSummary Train(DropoutMlp network, float[] inputs, float[] targets, TrainingOptions options, Device? device = null, CancellationToken cancellationToken = default)
    {
        TorchBackend.EnsureInitialized();
        var spec = network.Spec;
        int rows = inputs.Length / spec.Inputs;
        device ??= CPU;
        var started = System.Diagnostics.Stopwatch.StartNew();
        var random = new Random(unchecked((int)DropoutMasks.SplitMix64(options.Seed)));
        using var masks = new DropoutMasks(device);
        network.to(device);
        network.train();
        using var optimizer = optim.Adam(network.parameters(), options.LearningRate, weight_decay: options.WeightDecay);
        using var x = tensor(inputs, [rows, spec.Inputs], device: device);
        using var y = spec.Head.Kind == HeadKind.Classification
            ? tensor(targets.Select(t => (long)t).ToArray(), device: device)
            : tensor(targets, [rows, spec.Head.Outputs], device: device);

        double lastLoss = double.NaN;
        long step = 0;
        var order = Enumerable.Range(0, rows).ToArray();
        for (int epoch = 0; epoch < options.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            random.Shuffle(order);
            double epochLoss = 0;
            for (int start = 0; start < rows; start += options.BatchSize)
            {
                using var scope = NewDisposeScope();
                var batch = order.AsSpan(start, Math.Min(options.BatchSize, rows - start)).ToArray().Select(i => (long)i).ToArray();
                var index = tensor(batch, device: device);
                optimizer.zero_grad();
                var output = network.RunStages(x.index_select(0, index), 0, network.StageCount, MaskPlan.ForTraining(options.Seed, step++, batch.Length, network.DropoutLayers, device), masks);
                var loss = Loss(spec, output, y.index_select(0, index));
                loss.backward();
                optimizer.step();
                epochLoss += loss.item<float>() * batch.Length;
            }

            lastLoss = epochLoss / rows;
        }

        network.eval();
        return new TrainingSummary(options.Epochs, rows, lastLoss, options.Seed, started.Elapsed.TotalSeconds);
    }

    private static Tensor Loss(NetworkSpec spec, Tensor output, Tensor target)
    {
        switch (spec.Head.Kind)
        {
            case HeadKind.Classification:
                return nn.functional.cross_entropy(output, target);
            case HeadKind.HeteroscedasticRegression:
                var outputs = spec.Head.Outputs;
                var mean = output.narrow(1, 0, outputs);
                var logVariance = output.narrow(1, outputs, outputs);
                return (logVariance + (target - mean).pow(2) * (-logVariance).exp()).mean() * 0.5;
            default:
                return nn.functional.mse_loss(output, target);
        }
    }
}
