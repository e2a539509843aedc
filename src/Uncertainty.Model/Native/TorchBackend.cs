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

/// <summary>What loading the native backend found.</summary>
public sealed record BackendInfo(string LibTorchSource, bool CudaAvailable, int CudaDeviceCount, LibStdCxxCompatibility.Outcome? Compatibility, bool AllocatorTuned);

/// <summary>
/// The one place that loads libtorch. Every entry point of the model layer calls
/// <see cref="EnsureInitialized"/> first, because some TorchSharp calls (e.g. <c>new torch.Generator(seed)</c>)
/// reach native code before TorchSharp's own static initialiser has loaded it.
/// </summary>
public static class TorchBackend
{
    /// <summary>Environment variable naming a host libtorch directory (e.g. PyTorch's <c>torch/lib</c>).</summary>
    public const string LibTorchDirectoryVariable = "UNCERTAINTY_LIBTORCH_DIR";

    // Load order matters: each library's dependencies must already be mapped so the loader finds them by SONAME.
    private static readonly string[] HostLibTorchLibraries =
        ["libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so"];

    private static readonly Lock Gate = new();
    private static BackendInfo? loaded;

    /// <summary>The backend as loaded, or null before the first <see cref="Initialize"/>.</summary>
    public static BackendInfo? Info => loaded;

    /// <summary>Loads the backend with defaults (bundled libtorch, or <see cref="LibTorchDirectoryVariable"/>).</summary>
    public static BackendInfo EnsureInitialized() => loaded ?? Initialize(libTorchDirectory: null, NullLogger.Instance);

    /// <summary>
    /// Loads libtorch once per process: from <paramref name="libTorchDirectory"/> when given (a host
    /// PyTorch installation), else the libtorch-cpu natives shipped with the application. Later calls return the first result.
    /// </summary>
    public static BackendInfo Initialize(string? libTorchDirectory, ILogger logger)
    {
        lock (Gate)
        {
            if (loaded is not null)
            {
                return loaded;
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

            loaded = new BackendInfo(source, cuda, cuda ? torch.cuda.device_count() : 0, compatibility, allocatorTuned);
            return loaded;
        }
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
}
