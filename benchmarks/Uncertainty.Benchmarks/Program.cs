using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using TorchSharp;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Native;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

// Engine benchmark: the batched MC pass against a loop of T passes, and the deterministic-prefix gain.
// Usage: dotnet run -c Release --project benchmarks/Uncertainty.Benchmarks -- [--device cpu|cuda|auto] [--json FILE] [--check-devices] [--quick] [--cnn-only]
var arguments = Arguments.Parse(args);
var backend = TorchBackend.Initialize(libTorchDirectory: null, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
var device = TorchBackend.ResolveDevice(TorchBackend.ParsePreference(arguments.Get("--device", "cpu")));
Console.WriteLine($"# Uncertainty engine benchmark — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
Console.WriteLine($"device {device}, {backend.LibTorchSource}, {Environment.ProcessorCount} logical cores, torch threads {torch.get_num_threads()}");

Timing.CaseSeconds = double.Parse(arguments.Get("--case-seconds", "2"), CultureInfo.InvariantCulture);
var results = new List<Result>();
if (arguments.Value("--make-models") is { } store)
{
    // Packages for the service load test: the peer's small MLP and the reference MLP, randomly initialised.
    Models.Write(store);
    return;
}

if (arguments.Has("--reproducibility-cost"))
{
    // One process per MKL setting (MKL reads MKL_CBWR once); benchmarks/run-reproducibility.sh runs and compares them.
    ReproducibilityCost.Run(device, backend);
    return;
}

if (arguments.Has("--training-step"))
{
    // Per-step training time of the protocol's 13-50-1 MLP; benchmarks/run-training.sh runs PyTorch's loop beside it.
    TrainingStep.Run(int.Parse(arguments.Get("--epochs", "1000"), CultureInfo.InvariantCulture));
    return;
}

if (arguments.Has("--check-devices"))
{
    DeviceCheck.Run(device);
}

bool gpu = device.type == DeviceType.CUDA;
bool quick = arguments.Has("--quick");
bool sequenceOnly = arguments.Has("--sequence-only"); // just the recurrent and Transformer cases (docs/benchmarks.md, "Sequence networks")
bool cnnOnly = arguments.Has("--cnn-only") || sequenceOnly; // just the convolutional cases (docs/benchmarks.md, "Convolutional networks")
var reference = Models.Reference;
const string referenceName = "MLP 64-1024-1024-1, p=0.1";
(string Label, McOptions Options)[] prefixOffOn = [("prefix off", new McOptions { UsePrefix = false }), ("prefix on", new McOptions { UsePrefix = true })];

// Loop of T passes against one folded pass. On 2 CPU cores the largest cells take minutes per run, so the CPU
// matrix times the loop only up to B x T = 32,000 rows and B = 1024 only folded.
(int B, int T)[] cells = cnnOnly ? [] : quick ? [(1, 100)] : [(1, 100), (32, 100), (256, 100), (1024, 100), (1, 1000), (32, 1000), (256, 1000), (1024, 1000)];
foreach (var (rows, samples) in cells)
{
    bool loop = gpu || (long)rows * samples <= 32_000;
    if (!gpu && (long)rows * samples > 102_400)
    {
        continue;
    }

    results.AddRange(Cases.BatchedVersusLoop(reference, referenceName, rows, samples, device, loop));
}

if (!quick && !cnnOnly)
{
    foreach (var (rows, samples) in cells)
    {
        results.AddRange(Cases.BatchedVersusLoop(Models.Boston, "MLP 13-50-1 (Boston model), p=0.05", rows, samples, device, loop: true));
    }

    foreach (var (rows, samples) in new[] { (1, 100), (32, 100) })
    {
        results.AddRange(Cases.BatchedVersusLoop(Models.Small, "MLP 13-50-50-1 (the peer's small model), p=0.1", rows, samples, device, loop: true));
    }

    long[] budgets = gpu ? [4L << 20, 32L << 20, 128L << 20, 512L << 20] : [1L << 20, 4L << 20, 16L << 20, 64L << 20];
    results.AddRange(Cases.Variants(reference, referenceName, rows: 256, samples: 100, device, budgets.Select(b => ($"chunk budget {b >> 20} M elements", new McOptions { MaxChunkElements = b }))));
    ComputePrecision[] precisions = gpu ? [ComputePrecision.Fp32, ComputePrecision.Tf32, ComputePrecision.Bf16] : [ComputePrecision.Fp32, ComputePrecision.Bf16];
    foreach (var rows in gpu ? new[] { 1, 1024 } : [1, 32])
    {
        results.AddRange(Cases.Variants(reference, referenceName, rows, samples: 100, device, precisions.Select(p => ($"precision {p.ToString().ToLowerInvariant()}", new McOptions { Precision = p }))));
    }

    results.AddRange(Cases.Variants(reference, referenceName + " (no input dropout)", rows: 32, samples: 100, device, prefixOffOn));
}

if (!cnnOnly)
{
    results.Add(Cases.Memory(Models.Boston, "MLP 13-50-1 (Boston model), p=0.05", rows: 1000, samples: 10_000, device));
}

if (gpu && !cnnOnly)
{
    results.Add(Cases.Memory(reference, referenceName, rows: 1000, samples: 10_000, device));
}

if (sequenceOnly)
{
    // The births forecaster's LSTM and a token Transformer (docs/reference/sequence), against a loop of T passes of the same network.
    var lstm = NetworkSpec.FromJson(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "births-lstm.json")));
    var transformer = NetworkSpec.FromJson(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "benchmark-transformer.json")));
    foreach (var (rows, samples) in quick ? [(1, 100)] : new[] { (1, 100), (32, 100) })
    {
        results.AddRange(Cases.BatchedVersusLoop(lstm, "LSTM 56x6 steps, hidden 48, variational (births model)", rows, samples, device, loop: true));
        results.AddRange(Cases.BatchedVersusLoop(transformer, "Transformer encoder, 64 tokens, d 64, 4 heads, 2 layers", rows, samples, device, loop: true));
    }
}
else
{
    // A LeNet-style CNN with dropout after every convolution and dense layer (docs/reference/lenet-all.json).
    var lenet = NetworkSpec.FromJson(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "lenet-all.json")));
    const string lenetName = "LeNet-all CNN 1x28x28 (conv 32, 64; dense 512)";
    foreach (var (rows, samples) in quick ? [(1, 100)] : new[] { (1, 100), (32, 100) })
    {
        results.AddRange(Cases.BatchedVersusLoop(lenet, lenetName, rows, samples, device, loop: true));
    }

    var lenetStem = lenet with { Layers = [.. lenet.Layers!.Where((_, i) => i != 2)] };
    results.AddRange(Cases.Variants(lenetStem, "LeNet-all without its first dropout2d (conv stem as prefix)", rows: 32, samples: 100, device, prefixOffOn));
}

var wide = new NetworkSpec { Inputs = 784, Hidden = [1024, 1024], HiddenDropout = [0.1], Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 10 } };
results.AddRange(cnnOnly ? [] : Cases.Variants(wide, "MLP 784-1024-1024-10, p=0.1 (no input dropout)", rows: 32, samples: 100, device, prefixOffOn));

Console.WriteLine();
Console.WriteLine("| network | B | T | variant | median ms | min ms | speed-up, or peak RSS growth |");
Console.WriteLine("|---|---|---|---|---|---|---|");
foreach (var r in results)
{
    var last = r.Ratio is { } ratio ? $"{ratio:F2}x" : r.PeakRssGrowthMb is { } mb ? $"{mb:F0} MB" : "";
    Console.WriteLine($"| {r.Network} | {r.Rows} | {r.Samples} | {r.Variant} | {r.MedianMs:F2} | {r.MinMs:F2} | {last} |");
}

if (arguments.Value("--json") is { } path)
{
    var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
    var machine = $"{Environment.ProcessorCount} cores, {cpu}";
    var command = "Uncertainty.Benchmarks " + string.Join(' ', args);
    File.WriteAllText(path, JsonSerializer.Serialize(new { machine, device = device.ToString(), date = DateTime.UtcNow, command, torchThreads = torch.get_num_threads(), results }, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
}

internal sealed record Result(string Network, int Rows, int Samples, string Variant, double MedianMs, double MinMs, double? Ratio, double? PeakRssGrowthMb = null);

internal static class Cases
{
    /// <summary>
    /// Two ways to get T samples for B rows: a hand-written loop of T forward passes with the built-in dropout,
    /// and the predictor folding all T into one pass (the loop is skipped where it would take minutes).
    /// </summary>
    public static IEnumerable<Result> BatchedVersusLoop(NetworkSpec spec, string name, int rows, int samples, Device device, bool loop)
    {
        var network = Trainer.CreateNetwork(spec, seed: 1);
        var inputs = Inputs(rows, spec.Inputs, spec);
        using var folded = new McPredictor(network, device);
        var request = new McRequest { Inputs = inputs, Rows = rows, Samples = samples, Seed = 1 };
        var batched = Timing.Measure(() => folded.Predict(request), device);
        if (!loop)
        {
            yield return new Result(name, rows, samples, "predictor, T folded into one pass", batched.Median, batched.Min, null);
            yield break;
        }

        var naive = Timing.Measure(() => NaiveLoop(network, inputs, rows, samples, device), device);
        yield return new Result(name, rows, samples, "loop of T passes (built-in dropout)", naive.Median, naive.Min, null);
        yield return new Result(name, rows, samples, "predictor, T folded into one pass", batched.Median, batched.Min, naive.Median / batched.Median);
    }

    /// <summary>The folded pass under each set of options; the ratio is the speed-up over the first.</summary>
    public static IEnumerable<Result> Variants(NetworkSpec spec, string name, int rows, int samples, Device device, IEnumerable<(string Label, McOptions Options)> variants)
    {
        var request = new McRequest { Inputs = Inputs(rows, spec.Inputs), Rows = rows, Samples = samples, Seed = 1 };
        double? first = null;
        foreach (var (label, options) in variants)
        {
            using var predictor = new McPredictor(Trainer.CreateNetwork(spec, seed: 1), device, options);
            var time = Timing.Measure(() => predictor.Predict(request), device);
            first ??= time.Median;
            yield return new Result(name, rows, samples, label, time.Median, time.Min, first / time.Median);
        }

        torch.backends.cuda.matmul.allow_tf32 = false; // Tf32 is process-wide: later cases measure float32 again
    }

    /// <summary>One large request, timed once, with the growth of peak resident memory it caused.</summary>
    public static Result Memory(NetworkSpec spec, string name, int rows, int samples, Device device)
    {
        using var predictor = new McPredictor(Trainer.CreateNetwork(spec, seed: 1), device);
        var request = new McRequest { Inputs = Inputs(rows, spec.Inputs), Rows = rows, Samples = samples, Seed = 1 };
        predictor.Predict(request with { Samples = 10 });
        GC.Collect();
        var before = ProcessMemory.ResetPeak();
        var watch = Stopwatch.StartNew();
        predictor.Predict(request);
        var ms = watch.Elapsed.TotalMilliseconds;
        var growth = (ProcessMemory.PeakResidentBytes() - before) / 1e6;
        return new Result(name, rows, samples, "one request, chunked", ms, ms, Ratio: null, PeakRssGrowthMb: growth);
    }

    /// <summary>
    /// What a hand-written MC loop does: T ordinary forward passes with dropout sampling, mean and variance at the end. A
    /// sequence network's variational masks have no built-in module, so each of its passes draws one sample's masks itself.
    /// </summary>
    private static void NaiveLoop(DropoutNetwork network, float[] inputs, int rows, int samples, Device device)
    {
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var x = tensor(inputs, [rows, network.Spec.Inputs], device: device);
        var outputs = new List<Tensor>(samples);
        using var masks = new DropoutMasks(device);
        for (int t = 0; t < samples; t++)
        {
            outputs.Add(network.Spec.IsSequence
                ? network.RunStages(x, 0, network.StageCount, MaskPlan.ForTraining(1, t, rows, network.DropoutLayers, device), masks)
                : NaiveForward(network, x));
        }

        var stacked = stack(outputs);
        var (variance, mean) = var_mean(stacked, 0);
        _ = mean.cpu().data<float>().ToArray();
        _ = variance.cpu().data<float>().ToArray();
    }

    /// <summary>The network's layers in order, each dropout layer as torch's own (global RNG), as a plain PyTorch-style loop does.</summary>
    private static Tensor NaiveForward(DropoutNetwork network, Tensor x)
    {
        var modules = network.children().First().children().Cast<nn.Module<Tensor, Tensor>>().ToList();
        var shape = network.Spec.ResolvedInputShape;
        var h = shape.Count > 1 ? x.view([x.shape[0], .. shape.Select(e => (long)e)]) : x;
        var layers = network.Spec.ResolvedLayers;
        for (int i = 0; i < layers.Count; i++)
        {
            h = layers[i].Type switch
            {
                LayerType.Dropout => nn.functional.dropout(h, layers[i].Rate, training: true),
                LayerType.Dropout2d => nn.functional.dropout2d(h, layers[i].Rate, training: true),
                _ => modules[network.ModuleIndexOfLayer[i]].call(h),
            };
        }

        return h;
    }

    /// <summary>Random rows; for a token network, ids in [1, vocab) with the later half of the steps as padding in every other row.</summary>
    private static float[] Inputs(int rows, int features, NetworkSpec? spec = null)
    {
        var random = new Random(1);
        if (spec is { IsTokenSequence: true })
        {
            int vocabulary = spec.ResolvedLayers[0].Vocab!.Value;
            return [.. Enumerable.Range(0, rows * features).Select(i => (i / features) % 2 == 1 && i % features >= features / 2 ? 0f : random.Next(1, vocabulary))];
        }

        return [.. Enumerable.Range(0, rows * features).Select(_ => (float)((random.NextDouble() * 2) - 1))];
    }
}

/// <summary>
/// The MC engine under this process's MKL setting, with the predictor's reproducible mode (padded rows, host statistics)
/// and without it, so a comparison across processes separates MKL's cost from the predictor's. Prints one line per cell.
/// </summary>
internal static class ReproducibilityCost
{
    public static void Run(Device device, BackendInfo backend)
    {
        var setting = backend.MklCbwr ?? "unset";
        foreach (var (name, spec) in new[] { ("MLP 13-50-1", Models.Boston), ("MLP 64-1024-1024-1", Models.Reference) })
        {
            foreach (var rows in new[] { 1, 32, 256 })
            {
                var request = new McRequest { Inputs = Inputs(rows, spec.Inputs), Rows = rows, Samples = 100, Seed = 1 };
                foreach (var reproducible in new[] { false, true })
                {
                    using var predictor = new McPredictor(Trainer.CreateNetwork(spec, seed: 1), device, new McOptions { Reproducible = reproducible });
                    var (median, min) = Timing.Measure(() => predictor.Predict(request), device);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"COST\t{setting}\t{(reproducible ? "padded, host statistics" : "plain")}\t{name}\t{rows}\t{median:F4}\t{min:F4}"));
                }
            }
        }
    }

    /// <summary>Random rows; for a token network, ids in [1, vocab) with the later half of the steps as padding in every other row.</summary>
    private static float[] Inputs(int rows, int features, NetworkSpec? spec = null)
    {
        var random = new Random(1);
        if (spec is { IsTokenSequence: true })
        {
            int vocabulary = spec.ResolvedLayers[0].Vocab!.Value;
            return [.. Enumerable.Range(0, rows * features).Select(i => (i / features) % 2 == 1 && i % features >= features / 2 ? 0f : random.Next(1, vocabulary))];
        }

        return [.. Enumerable.Range(0, rows * features).Select(_ => (float)((random.NextDouble() * 2) - 1))];
    }
}

/// <summary>The networks the benchmarks and the service load test share.</summary>
/// <summary>
/// Milliseconds per optimiser step (Adam, batch 128, 324 rows: a Boston training split less its validation part) for the
/// protocol's 13-50-1 MLP: <see cref="Trainer"/> alone, and the grid trainer with K = 1 and K = 12 configurations (the
/// paper's 4 rates x 3 tau), per step of all K.
/// </summary>
internal static class TrainingStep
{
    public static void Run(int epochs)
    {
        const int rows = 324;
        var random = new Random(1);
        var set = new TrainingSet(
            [.. Enumerable.Range(0, rows * 13).Select(_ => (float)random.NextDouble())],
            [.. Enumerable.Range(0, rows).Select(_ => (float)random.NextDouble())]);
        var options = new TrainingOptions { Epochs = epochs, BatchSize = 128, Optimizer = OptimizerKind.Adam, LearningRate = 1e-3, Seed = 1 };
        int steps = epochs * ((rows + 127) / 128);
        double[] rates = [0.005, 0.01, 0.05, 0.1];
        GridConfiguration Point(int i) => new(Models.Boston with { InputDropout = rates[i % 4], HiddenDropout = [rates[i % 4]] }, 1e-4 * (1 + (i / 4)));

        // Each case once to warm up, then timed.
        foreach (var (name, action) in new (string, Action<TrainingOptions>)[]
        {
            ("trainer, one network", o => Trainer.Train(Trainer.CreateNetwork(Point(0).Network, 1), set, o with { WeightDecay = Point(0).WeightDecay })),
            ("stacked grid, K = 1", o => GridTrainer.Train([Point(0)], set, o)),
            ("stacked grid, K = 12", o => GridTrainer.Train([.. Enumerable.Range(0, 12).Select(Point)], set, o)),
        })
        {
            action(options with { Epochs = 5 });
            var clock = Stopwatch.StartNew();
            action(options);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"STEP\t{name}\t{clock.Elapsed.TotalMilliseconds / steps:F4}"));
        }
    }
}

internal static class Models
{
    public static readonly NetworkSpec Reference = new() { Inputs = 64, Hidden = [1024, 1024], HiddenDropout = [0.1] };

    public static readonly NetworkSpec Boston = new() { Inputs = 13, Hidden = [50], InputDropout = 0.05, HiddenDropout = [0.05] };

    /// <summary>The Python peer's small model: 13-50-50-1 with dropout 0.1 after each hidden layer.</summary>
    public static readonly NetworkSpec Small = new() { Inputs = 13, Hidden = [50, 50], HiddenDropout = [0.1] };

    public static void Write(string store)
    {
        foreach (var (name, spec) in new[] { ("small", Small), ("reference", Reference) })
        {
            using var package = new Uncertainty.Model.Packaging.ModelPackage(
                new Uncertainty.Model.Packaging.ModelDescription { Network = spec, InputScaling = Uncertainty.Model.Data.Standardizer.Identity(spec.Inputs), Description = $"Benchmark network {name}, randomly initialised." },
                Trainer.CreateNetwork(spec, seed: 1));
            package.Save(Path.Combine(store, name, "1"));
            Console.WriteLine($"wrote {Path.Combine(store, name, "1")}");
        }
    }
}

internal static class Timing
{
    /// <summary>Seconds of timed repetitions per case (--case-seconds); the warm-up takes a quarter of it.</summary>
    public static double CaseSeconds { get; set; } = 2;

    /// <summary>Median and minimum over repetitions (at least 5) after a warm-up (at least 3 runs).</summary>
    public static (double Median, double Min) Measure(Action action, Device device)
    {
        var warmUp = Stopwatch.StartNew();
        for (int i = 0; i < 3 || warmUp.Elapsed.TotalSeconds < CaseSeconds / 4; i++)
        {
            action();
        }

        var times = new List<double>();
        var budget = Stopwatch.StartNew();
        while (times.Count < 5 || (times.Count < 200 && budget.Elapsed.TotalSeconds < CaseSeconds))
        {
            var watch = Stopwatch.StartNew();
            action();
            if (device.type == DeviceType.CUDA)
            {
                torch.cuda.synchronize();
            }

            times.Add(watch.Elapsed.TotalMilliseconds);
        }

        times.Sort();
        return (times[times.Count / 2], times[0]);
    }
}

/// <summary>Resident memory from /proc (Linux): the current size, and the peak since the last reset.</summary>
internal static class ProcessMemory
{
    /// <summary>Resets the kernel's high-water mark (VmHWM) to the current RSS and returns that RSS in bytes.</summary>
    public static long ResetPeak()
    {
        File.WriteAllText("/proc/self/clear_refs", "5");
        return Read("VmRSS:");
    }

    public static long PeakResidentBytes() => Read("VmHWM:");

    private static long Read(string field) =>
        long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(field, StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
}

/// <summary>On a GPU: the same masks and the same MC numbers on CPU and CUDA.</summary>
internal static class DeviceCheck
{
    public static void Run(Device device)
    {
        ulong[] seeds = [.. Enumerable.Repeat(42UL, 100)];
        long[] indices = [.. Enumerable.Range(0, 100).Select(t => (long)t)];
        using var cpuMask = new DropoutMasks(CPU).Mask(MaskPlan.Create(seeds, indices, 2, CPU), 1, 1024, 0.1, 1 / 0.9, ScalarType.Float32);
        using var deviceMask = new DropoutMasks(device).Mask(MaskPlan.Create(seeds, indices, 2, device), 1, 1024, 0.1, 1 / 0.9, ScalarType.Float32);
        var identical = cpuMask.data<float>().ToArray().SequenceEqual(deviceMask.cpu().data<float>().ToArray());
        Console.WriteLine($"masks identical on cpu and {device}: {identical}");

        var spec = new NetworkSpec { Inputs = 64, Hidden = [1024, 1024], HiddenDropout = [0.1] };
        var request = new McRequest { Inputs = [.. Enumerable.Range(0, 64 * 4).Select(i => (float)Math.Sin(i))], Rows = 4, Samples = 1000, Seed = 7 };
        using var onCpu = new McPredictor(Trainer.CreateNetwork(spec, 3), CPU);
        using var onDevice = new McPredictor(Trainer.CreateNetwork(spec, 3), device);
        var a = onCpu.Predict(request).Rows.Cast<RegressionPrediction>().ToArray();
        var b = onDevice.Predict(request).Rows.Cast<RegressionPrediction>().ToArray();
        var meanDiff = a.Zip(b).Max(pair => Math.Abs(pair.First.Mean[0] - pair.Second.Mean[0]));
        var varianceDiff = a.Zip(b).Max(pair => Math.Abs(pair.First.EpistemicVariance[0] - pair.Second.EpistemicVariance[0]) / pair.First.EpistemicVariance[0]);
        Console.WriteLine($"MC mean max |cpu - {device}| = {meanDiff:E2}; epistemic variance max relative difference = {varianceDiff:E2}");

        // Training on the device: the same seeded run on both devices should land close (float rounding only).
        var data = Uncertainty.Model.Data.BundledDatasets.Load("boston");
        var options = new TrainingOptions { Epochs = 50, Seed = 5, MaxNorm = 3, WeightDecay = 1e-4 };
        var boston = new NetworkSpec { Inputs = 13, Hidden = [50], InputDropout = 0.05, HiddenDropout = [0.05] };
        var cpuRun = TrainingPipeline.Fit(data, boston, options, CPU);
        var deviceRun = TrainingPipeline.Fit(data, boston, options, device);
        Console.WriteLine($"training 50 epochs on Boston: final loss cpu {cpuRun.Description.Training!.FinalLoss:F5}, {device} {deviceRun.Description.Training!.FinalLoss:F5}");
    }
}

internal sealed class Arguments(string[] args)
{
    public static Arguments Parse(string[] args) => new(args);

    public bool Has(string flag) => args.Contains(flag);

    public string? Value(string flag) => Array.IndexOf(args, flag) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

    public string Get(string flag, string fallback) => Value(flag) ?? fallback;
}
