using System.Runtime.InteropServices;
using System.Text.Json;
using Uncertainty.Model.Data;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Native;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

/// <summary>
/// Bit-for-bit guarantees of the default backend (MKL_CBWR=AUTO). Run the tests with UNCERTAINTY_CPU_REPRODUCIBILITY=off
/// to see them fail: repeated training runs then differ in hundreds of weights, and merged requests in the last bits.
/// </summary>
public class ReproducibilityTests
{
    private const int MklCbwrBranchOff = 1; // MKL_CBWR_BRANCH_OFF: MKL's default, no conditional reproducibility
    private const int MklCbwrAuto = 2;

    [Fact]
    public void MKL_reads_the_reproducibility_mode_that_was_set_before_the_natives_loaded()
    {
        var info = TorchBackend.EnsureInitialized();

        Assert.NotEqual(CpuReproducibility.Off, info.Reproducibility);
        Assert.Equal(info.MklCbwr, NativeEnvironment("MKL_CBWR"));
        // MKL's own view, from the libtorch build's MKL (an internal symbol: checked here, never relied on by the product).
        int mode = MklCbwrMode();
        Assert.NotEqual(MklCbwrBranchOff, mode);
        if (!info.MklCbwrFromEnvironment)
        {
            Assert.Equal(MklCbwrAuto, mode & 0xFFFF);
        }
    }

    [Theory]
    [InlineData("off", CpuReproducibility.Off)]
    [InlineData("Auto", CpuReproducibility.Auto)]
    [InlineData(" STRICT ", CpuReproducibility.Strict)]
    [InlineData("", null)]
    public void Reproducibility_parses_from_its_setting(string value, CpuReproducibility? expected)
    {
        Assert.Equal(expected, TorchBackend.ParseReproducibility(value));
        Assert.Throws<ArgumentException>(() => TorchBackend.ParseReproducibility("sometimes"));
    }

    [Fact]
    public void Same_seed_gives_bit_identical_weights_in_one_process_on_any_thread()
    {
        // Without input dropout the first Linear reads each batch where TorchSharp put it: a pinned managed copy, whose
        // address (mod 64) varies with the heap, and MKL's default kernels round by alignment. (Input dropout hides
        // this: its masked copy is a fresh, aligned libtorch tensor.)
        var data = BundledDatasets.Load("boston");
        var spec = new NetworkSpec { Inputs = 13, Hidden = [50], HiddenDropout = [0.05] };
        var options = new TrainingOptions { Epochs = 10, BatchSize = 32, Seed = 1, ValidationFraction = 0.1 };
        float[] Train(int run)
        {
            var garbage = Enumerable.Range(0, 1000 * run).Select(i => new byte[i % 100]).ToList(); // moves where managed arrays land
            using var package = TrainingPipeline.Fit(data, spec, options);
            GC.KeepAlive(garbage);
            return [.. package.Network.parameters().SelectMany(p => p.data<float>().ToArray())];
        }

        var first = Train(1);
        var second = Train(2);
        float[] onOtherThread = [];
        var thread = new Thread(() => onOtherThread = Train(3));
        thread.Start();
        thread.Join();

        Assert.Equal(Bits(first), Bits(second));
        Assert.Equal(Bits(first), Bits(onOtherThread));
    }

    public static TheoryData<string> Networks() => ["prefix", "input dropout", "classifier", "heteroscedastic", "batchnorm", "cnn"];

    [Theory]
    [MemberData(nameof(Networks))]
    public void A_request_gives_bit_identical_numbers_alone_merged_and_chunked(string network)
    {
        var spec = network switch
        {
            // No input dropout: the first Linear runs once on every row of the call, whatever else was merged in.
            "prefix" => new NetworkSpec { Inputs = 13, Hidden = [50], HiddenDropout = [0.05] },
            "input dropout" => new NetworkSpec { Inputs = 13, Hidden = [64, 64], InputDropout = 0.1, HiddenDropout = [0.1] },
            "classifier" => new NetworkSpec { Inputs = 20, Hidden = [48], HiddenDropout = [0.3], Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 10 } },
            "heteroscedastic" => new NetworkSpec { Inputs = 6, Hidden = [40], InputDropout = 0.1, HiddenDropout = [0.2], Head = new HeadSpec { Kind = HeadKind.HeteroscedasticRegression, Outputs = 2 } },
            "cnn" => ConvolutionalNetworkTests.SmallCnn(),
            _ => new NetworkSpec { Inputs = 9, Hidden = [30, 30], HiddenDropout = [0.2], Normalization = Normalization.BatchNorm },
        };
        using var predictor = TestNetworks.Predictor(spec);
        using var chunked = TestNetworks.Predictor(spec, new McOptions { MaxChunkElements = 37 * spec.MaxWidth });
        using var oneSamplePerChunk = TestNetworks.Predictor(spec, new McOptions { MaxChunkElements = 1, UsePrefix = false });
        McRequest Request(int rows, ulong seed, int samples = 100) =>
            new() { Inputs = TestNetworks.Inputs(rows, spec.Inputs, seed: (int)seed), Rows = rows, Samples = samples, Seed = seed };
        // 64 x 100 values would be reduced on the device; samples are compared too.
        McRequest[] targets = [Request(1, 42, samples: 1), Request(3, 43) with { ReturnSamples = true }, Request(64, 44)];
        McRequest[][] companions = [[Request(1, 1)], [Request(5, 2), Request(2, 3, samples: 50)], [Request(7, 4, samples: 3)], [Request(64, 5)]];

        foreach (var target in targets)
        {
            var alone = Numbers(predictor.Predict(target));
            Assert.Equal(alone, Numbers(chunked.Predict(target)));
            Assert.Equal(alone, Numbers(oneSamplePerChunk.Predict(target)));
            foreach (var others in companions)
            {
                Assert.Equal(alone, Numbers(predictor.Predict([.. others, target])[^1]));
                Assert.Equal(alone, Numbers(predictor.Predict([target, .. others])[0]));
            }
        }

        Assert.True(predictor.Reproducible);
    }

    [Fact]
    public void A_deterministic_row_does_not_depend_on_the_other_rows_of_the_call()
    {
        var spec = new NetworkSpec { Inputs = 13, Hidden = [50], HiddenDropout = [0.05] };
        using var predictor = TestNetworks.Predictor(spec);
        var inputs = TestNetworks.Inputs(rows: 21, features: 13);

        var all = predictor.PredictDeterministic(inputs, 21);

        for (int rows = 1; rows <= 21; rows += 5)
        {
            var some = predictor.PredictDeterministic(inputs[..(rows * 13)], rows);
            Assert.Equal(JsonSerializer.Serialize<object>(all[rows - 1]), JsonSerializer.Serialize<object>(some[rows - 1]));
        }
    }

    [Fact]
    public void Padded_row_counts_are_multiples_of_eight_and_at_least_sixteen()
    {
        Assert.Equal([16, 16, 16, 24, 24, 104, 4096], new long[] { 1, 15, 16, 17, 24, 100, 4093 }.Select(McPredictor.PaddedRows));
    }

    /// <summary>Every number of a prediction as text: .NET writes doubles round-trippably, so equal text is equal bits.</summary>
    private static string Numbers(McPrediction prediction) =>
        $"{prediction.SamplesUsed} {string.Join("\n", prediction.Rows.Select(row => JsonSerializer.Serialize<object>(row)))}";

    private static int[] Bits(float[] values) => [.. values.Select(BitConverter.SingleToInt32Bits)];

    private static int MklCbwrMode()
    {
        var get = Marshal.GetDelegateForFunctionPointer<IntToInt>(NativeLibrary.GetExport(NativeLibrary.Load("libtorch_cpu.so"), "mkl_serv_cbwr_get"));
        using var warm = mm(ones(4, 4), ones(4, 4)); // MKL settles its mode at its first call
        return get(-1); // MKL_CBWR_ALL
    }

    private static string? NativeEnvironment(string name)
    {
        var getenv = Marshal.GetDelegateForFunctionPointer<StringToPointer>(NativeLibrary.GetExport(NativeLibrary.Load("libc.so.6"), "getenv"));
        return Marshal.PtrToStringUTF8(getenv(name));
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int IntToInt(int value);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr StringToPointer([MarshalAs(UnmanagedType.LPUTF8Str)] string value);
}
