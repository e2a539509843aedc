using System.Runtime.InteropServices;

namespace Uncertainty.Model.Native;

/// <summary>
/// Keeps glibc's malloc from handing large tensors back to the kernel after every pass. By default a freed
/// block above the (dynamic, at most 32 MB) mmap threshold is unmapped, or trimmed off the heap top, and the
/// next pass's allocation page-faults it back in, zeroed. MC chunks allocate and free activations of
/// 10-30 MB per layer, so that churn dominated: B = 1, T = 100 on the 64-1024-1024-1 MLP took 5.4 ms median
/// with the defaults and 2.7 ms with these settings (2-core CPU, same run). Fixed thresholds keep those
/// blocks in the process; the memory stays bounded by the chunk budget.
/// </summary>
public static partial class GlibcAllocator
{
    private const int TrimThresholdParameter = -1; // M_TRIM_THRESHOLD
    private const int MmapThresholdParameter = -3; // M_MMAP_THRESHOLD

    /// <summary>Blocks at least this large are still mmapped (and returned on free).</summary>
    public const int MmapThreshold = 64 << 20;

    /// <summary>Free memory at the top of the heap beyond this is returned to the kernel.</summary>
    public const int TrimThreshold = 256 << 20;

    /// <summary>
    /// Applies the thresholds unless the user set glibc's own MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_.
    /// Returns false where there is no glibc (e.g. musl, Windows, macOS) or the user's settings win.
    /// </summary>
    public static bool Tune()
    {
        if (!OperatingSystem.IsLinux()
            || Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null
            || Environment.GetEnvironmentVariable("MALLOC_TRIM_THRESHOLD_") is not null
            || !NativeLibrary.TryLoad("libc.so.6", out var libc)
            || !NativeLibrary.TryGetExport(libc, "mallopt", out _))
        {
            return false;
        }

        return Mallopt(MmapThresholdParameter, MmapThreshold) == 1 && Mallopt(TrimThresholdParameter, TrimThreshold) == 1;
    }

    [LibraryImport("libc.so.6", EntryPoint = "mallopt")]
    private static partial int Mallopt(int parameter, int value);
}
