using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Uncertainty.Model.Native;

/// <summary>Which device the model layer computes on.</summary>
public enum DevicePreference
{
    /// <summary>CUDA when a CUDA libtorch and a GPU are present, else the CPU.</summary>
    Auto,
    Cpu,
    Cuda,
}

/// <summary>
/// How far CPU results may depend on more than the inputs. libtorch's CPU matrix products are MKL's sgemm, whose
/// default kernels pick their summation order by the operands' memory alignment (and, threaded, by the thread count):
/// the same training run twice in one process gave different weights. MKL's conditional numerical reproducibility
/// (the MKL_CBWR environment variable, read by MKL at its first call) fixes the code path.
/// </summary>
public enum CpuReproducibility
{
    /// <summary>MKL's default: fastest kernels; results may change with memory alignment, so runs and merges can differ in the last bits.</summary>
    Off,

    /// <summary>MKL_CBWR=AUTO: one code path for this CPU, independent of alignment. Same seed and data give bit-identical weights and predictions.</summary>
    Auto,

    /// <summary>MKL_CBWR=AUTO,STRICT: as <see cref="Auto"/>, and MKL's strict mode, which also makes products independent of the thread count.</summary>
    Strict,
}

/// <summary>What loading the native backend found.</summary>
public sealed record BackendInfo(string LibTorchSource, bool CudaAvailable, int CudaDeviceCount, LibStdCxxCompatibility.Outcome? Compatibility, bool AllocatorTuned)
{
    /// <summary>The reproducibility the CPU runs with: the one asked for, or what an MKL_CBWR set by the operator means.</summary>
    public CpuReproducibility Reproducibility { get; init; }

    /// <summary>MKL_CBWR as MKL reads it; null when unset (MKL's default, <see cref="CpuReproducibility.Off"/>).</summary>
    public string? MklCbwr { get; init; }

    /// <summary>True when MKL_CBWR was already in the environment: it is left as the operator set it.</summary>
    public bool MklCbwrFromEnvironment { get; init; }
}

/// <summary>
/// The one place that loads libtorch. Every entry point of the model layer calls
/// <see cref="EnsureInitialized"/> first, because some TorchSharp calls (e.g. <c>new torch.Generator(seed)</c>)
/// reach native code before TorchSharp's own static initialiser has loaded it.
/// </summary>
public static partial class TorchBackend
{
    /// <summary>Environment variable naming a host libtorch directory (e.g. PyTorch's <c>torch/lib</c>).</summary>
    public const string LibTorchDirectoryVariable = "UNCERTAINTY_LIBTORCH_DIR";

    /// <summary>Environment variable choosing <see cref="CpuReproducibility"/> (off, auto, strict) when the caller passes none.</summary>
    public const string ReproducibilityVariable = "UNCERTAINTY_CPU_REPRODUCIBILITY";

    /// <summary>
    /// Reproducible by default: without it two identical training runs in one process give different weights, and a
    /// request's numbers change in the last bits with what it was merged with (costs: docs/architecture.md, "Reproducibility:
    /// what is guaranteed").
    /// </summary>
    public const CpuReproducibility DefaultReproducibility = CpuReproducibility.Auto;

    private const string MklCbwrVariable = "MKL_CBWR";

    private const string OmpWaitPolicyVariable = "OMP_WAIT_POLICY";

    // Load order matters: each library's dependencies must already be mapped so the loader finds them by SONAME.
    private static readonly string[] HostLibTorchLibraries =
        ["libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so"];

    private static readonly Lock Gate = new();
    private static BackendInfo? loaded;

    /// <summary>The backend as loaded, or null before the first <see cref="Initialize"/>.</summary>
    public static BackendInfo? Info => loaded;

    /// <summary>Loads the backend with defaults (bundled libtorch, or <see cref="LibTorchDirectoryVariable"/>; <see cref="ReproducibilityVariable"/>).</summary>
    public static BackendInfo EnsureInitialized() => loaded ?? Initialize(libTorchDirectory: null, NullLogger.Instance);

    /// <summary>
    /// Loads libtorch once per process: from <paramref name="libTorchDirectory"/> when given (a host
    /// PyTorch installation), else the libtorch-cpu natives shipped with the application. Later calls return the first result.
    /// </summary>
    /// <param name="reproducibility">
    /// Null for <see cref="ReproducibilityVariable"/>, else <see cref="DefaultReproducibility"/>. An MKL_CBWR already in the
    /// environment wins over both: it is the operator's explicit choice, and MKL reads it whatever is passed here.
    /// </param>
    /// <param name="passiveThreadWaits">
    /// OMP_WAIT_POLICY=PASSIVE (unless the operator set it): libtorch's OpenMP threads sleep between parallel regions
    /// instead of spinning. For a server, whose HTTP threads need the cores between passes; a spinning worker that the
    /// scheduler has descheduled also keeps the owner spinning at the region's barrier. Waiting changes no number.
    /// </param>
    public static BackendInfo Initialize(string? libTorchDirectory, ILogger logger, CpuReproducibility? reproducibility = null, bool passiveThreadWaits = false)
    {
        lock (Gate)
        {
            if (loaded is not null)
            {
                return loaded;
            }

            // First, before any native library is mapped: MKL reads MKL_CBWR once, at its first call.
            var cbwr = ConfigureMkl(reproducibility ?? ReproducibilityFromEnvironment() ?? DefaultReproducibility, logger);
            if (passiveThreadWaits)
            {
                SetNativeDefault(OmpWaitPolicyVariable, "PASSIVE"); // libgomp reads it once, as libtorch maps it
            }

            libTorchDirectory ??= NullIfEmpty(Environment.GetEnvironmentVariable(LibTorchDirectoryVariable));
            string source = "bundled libtorch-cpu";
            if (libTorchDirectory is not null)
            {
                PreloadHostLibTorch(libTorchDirectory);
                source = $"host libtorch at {libTorchDirectory}";
            }

            LibStdCxxCompatibility.Outcome? compatibility = null;
            if (OperatingSystem.IsLinux() && FindLibTorchSharp() is { } libTorchSharp)
            {
                compatibility = LibStdCxxCompatibility.Apply(libTorchSharp, LibStdCxxCompatibility.HostVersions(), logger);
            }

            bool allocatorTuned = GlibcAllocator.Tune();
            torch.InitializeDeviceType(DeviceType.CPU);
            bool cuda = torch.cuda.is_available();
            if (cuda)
            {
                torch.InitializeDeviceType(DeviceType.CUDA);
            }

            loaded = new BackendInfo(source, cuda, cuda ? torch.cuda.device_count() : 0, compatibility, allocatorTuned)
            {
                Reproducibility = cbwr.Reproducibility,
                MklCbwr = cbwr.Value,
                MklCbwrFromEnvironment = cbwr.FromEnvironment,
            };
            return loaded;
        }
    }

    /// <summary>Parses off, auto or strict (any case); null for null or blank.</summary>
    public static CpuReproducibility? ParseReproducibility(string? value) =>
        string.IsNullOrWhiteSpace(value) ? null
        : Enum.TryParse<CpuReproducibility>(value.Trim(), ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) ? parsed
        : throw new ArgumentException($"Unknown CPU reproducibility '{value}': expected off, auto or strict.", nameof(value));

    private static CpuReproducibility? ReproducibilityFromEnvironment()
    {
        try
        {
            return ParseReproducibility(Environment.GetEnvironmentVariable(ReproducibilityVariable));
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{ReproducibilityVariable}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Sets MKL_CBWR in the native environment for <paramref name="wanted"/>, unless it is already set there. .NET's
    /// Environment.SetEnvironmentVariable changes only the runtime's own copy on Unix, which MKL's getenv never sees,
    /// so libc's setenv is called (and the managed copy kept in step for child processes).
    /// </summary>
    private static (CpuReproducibility Reproducibility, string? Value, bool FromEnvironment) ConfigureMkl(CpuReproducibility wanted, ILogger logger)
    {
        if (!OperatingSystem.IsLinux())
        {
            return (CpuReproducibility.Off, null, false); // the product's CPU builds are Linux; elsewhere MKL is left alone
        }

        if (Marshal.PtrToStringUTF8(GetEnv(MklCbwrVariable)) is { } existing)
        {
            var meaning = existing.Length == 0 ? CpuReproducibility.Off
                : existing.Contains("STRICT", StringComparison.OrdinalIgnoreCase) ? CpuReproducibility.Strict
                : CpuReproducibility.Auto;
            Log.OperatorCbwr(logger, existing, meaning);
            return (meaning, existing, true);
        }

        string? value = wanted switch
        {
            CpuReproducibility.Off => null,
            CpuReproducibility.Auto => "AUTO",
            CpuReproducibility.Strict => "AUTO,STRICT",
            _ => throw new ArgumentOutOfRangeException(nameof(wanted), wanted, "unknown CPU reproducibility"),
        };
        if (value is not null)
        {
            SetNativeDefault(MklCbwrVariable, value);
        }

        return (wanted, value, false);
    }

    /// <summary>Sets <paramref name="name"/> in the native environment unless it is set there (Linux only; see <see cref="ConfigureMkl"/>).</summary>
    private static void SetNativeDefault(string name, string value)
    {
        if (!OperatingSystem.IsLinux() || GetEnv(name) != IntPtr.Zero)
        {
            return;
        }

        if (SetEnv(name, value, overwrite: 0) != 0)
        {
            throw new InvalidOperationException($"setenv({name}) failed: {Marshal.GetLastPInvokeErrorMessage()}");
        }

        Environment.SetEnvironmentVariable(name, value);
    }

    /// <summary>Resolves a preference to a device; <see cref="DevicePreference.Cuda"/> without a GPU fails with the reason.</summary>
    public static Device ResolveDevice(DevicePreference preference)
    {
        var info = EnsureInitialized();
        return preference switch
        {
            DevicePreference.Cpu => CPU,
            DevicePreference.Auto => info.CudaAvailable ? CUDA : CPU,
            DevicePreference.Cuda when info.CudaAvailable => CUDA,
            DevicePreference.Cuda => throw new InvalidOperationException(
                $"Device 'cuda' was requested but CUDA is not available with the {info.LibTorchSource}. " +
                $"Use 'auto' or 'cpu', or point {LibTorchDirectoryVariable} at a CUDA build of libtorch (e.g. PyTorch's torch/lib) on a machine with a GPU."),
            _ => throw new ArgumentOutOfRangeException(nameof(preference), preference, "unknown device preference"),
        };
    }

    /// <summary>Parses "auto", "cpu" or "cuda" (any case).</summary>
    public static DevicePreference ParsePreference(string value) =>
        Enum.TryParse<DevicePreference>(value, ignoreCase: true, out var preference) && Enum.IsDefined(preference)
            ? preference
            : throw new ArgumentException($"Unknown device '{value}': expected auto, cpu or cuda.", nameof(value));

    private static void PreloadHostLibTorch(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"The libtorch directory '{directory}' does not exist.");
        }

        foreach (var name in HostLibTorchLibraries)
        {
            var path = Path.Combine(directory, name);
            if (File.Exists(path) && !NativeLibrary.TryLoad(path, out _))
            {
                throw new DllNotFoundException($"Could not load {path} from the host libtorch directory.");
            }
        }
    }

    /// <summary>The LibTorchSharp native the runtime will load: beside TorchSharp.dll or under runtimes/linux-x64/native.</summary>
    private static string? FindLibTorchSharp()
    {
        var directory = Path.GetDirectoryName(typeof(torch).Assembly.Location) ?? AppContext.BaseDirectory;
        string[] candidates =
        [
            Path.Combine(directory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
            Path.Combine(directory, "libLibTorchSharp.so"),
        ];
        return candidates.FirstOrDefault(File.Exists);
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    private static partial class Log
    {
        [LoggerMessage(EventId = 1002, Level = LogLevel.Information,
            Message = "MKL_CBWR={Value} is set in the environment and left as it is (CPU reproducibility {Reproducibility}).")]
        public static partial void OperatorCbwr(ILogger logger, string value, CpuReproducibility reproducibility);
    }

    [LibraryImport("libc.so.6", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetEnv(string name);

    [LibraryImport("libc.so.6", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
