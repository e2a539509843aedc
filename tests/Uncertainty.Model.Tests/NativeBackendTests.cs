using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using Uncertainty.Model.Native;

namespace Uncertainty.Model.Tests;

public class NativeBackendTests
{
    private const string Version = "GLIBCXX_3.4.32";

    private static string LibTorchSharp()
    {
        TorchBackend.EnsureInitialized();
        return Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    }

    /// <summary>A copy of LibTorchSharp with every weak flag cleared, i.e. as NuGet ships it.</summary>
    private static string PristineCopy()
    {
        var bytes = File.ReadAllBytes(LibTorchSharp());
        foreach (var needed in ElfVersionNeeds.ReadNeeded(bytes).Where(v => v.IsWeak))
        {
            bytes[needed.FlagsOffset] &= unchecked((byte)~ElfVersionNeeds.WeakFlag);
        }

        var path = Path.Combine(Path.GetTempPath(), $"libLibTorchSharp-{Guid.NewGuid():N}.so");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Backend_loads_and_computes()
    {
        var info = TorchBackend.EnsureInitialized();

        using var sum = torch.tensor(new float[] { 1, 2, 3 }).sum();

        Assert.Equal(6f, sum.item<float>());
        Assert.Equal("bundled libtorch-cpu", info.LibTorchSource);
    }

    [Fact]
    public void LibTorchSharp_loads_on_this_host_because_the_version_is_present_or_weak()
    {
        var host = LibStdCxxCompatibility.HostVersions();
        var needed = ElfVersionNeeds.ReadNeeded(File.ReadAllBytes(LibTorchSharp())).Single(v => v.Name == Version);

        Assert.True(host.Contains(Version) || needed.IsWeak, $"{Version} is neither provided by the host nor weak");
        Assert.Contains("GLIBCXX_3.4.30", host);
    }

    [Fact]
    public void Shipped_library_needs_the_version_strongly_from_libstdcxx()
    {
        var path = PristineCopy();

        var needed = ElfVersionNeeds.ReadNeeded(File.ReadAllBytes(path));

        var version = needed.Single(v => v.Name == Version);
        Assert.Equal("libstdc++.so.6", version.File);
        Assert.False(version.IsWeak);
        Assert.Contains(needed, v => v.File == "libc.so.6" && v.Name == "GLIBC_2.34");
        File.Delete(path);
    }

    [Fact]
    public void Apply_marks_only_the_missing_version_weak_and_changes_two_bytes_at_most()
    {
        var path = PristineCopy();
        var before = File.ReadAllBytes(path);
        var host = ElfVersionNeeds.ReadNeeded(before).Select(v => v.Name).Where(v => v != Version).ToHashSet();

        var outcome = LibStdCxxCompatibility.Apply(path, host, NullLogger.Instance);

        var after = File.ReadAllBytes(path);
        Assert.True(outcome.Patched);
        Assert.Equal([Version], outcome.Missing);
        Assert.Equal(before.Length, after.Length);
        Assert.InRange(before.Zip(after).Count(pair => pair.First != pair.Second), 1, 2);
        var needed = ElfVersionNeeds.ReadNeeded(after);
        Assert.True(needed.Single(v => v.Name == Version).IsWeak);
        Assert.All(needed.Where(v => v.Name != Version), v => Assert.False(v.IsWeak));
        File.Delete(path);
    }

    [Fact]
    public void Apply_leaves_the_library_alone_when_the_host_has_the_version()
    {
        var path = PristineCopy();
        var before = File.ReadAllBytes(path);
        var host = ElfVersionNeeds.ReadNeeded(before).Select(v => v.Name).ToHashSet();

        var outcome = LibStdCxxCompatibility.Apply(path, host, NullLogger.Instance);

        Assert.False(outcome.Patched);
        Assert.Empty(outcome.Missing);
        Assert.Equal(before, File.ReadAllBytes(path));
        File.Delete(path);
    }

    [Fact]
    public void Apply_refuses_when_the_host_lacks_a_version_that_guards_real_calls()
    {
        var path = PristineCopy();
        var host = ElfVersionNeeds.ReadNeeded(File.ReadAllBytes(path)).Select(v => v.Name).Where(v => v is not Version and not "GLIBCXX_3.4.30").ToHashSet();

        var error = Assert.Throws<PlatformNotSupportedException>(() => LibStdCxxCompatibility.Apply(path, host, NullLogger.Instance));

        Assert.Contains("GLIBCXX_3.4.30", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Version, error.Message, StringComparison.Ordinal);
        File.Delete(path);
    }

    [Fact]
    public void Allocator_thresholds_are_fixed_on_glibc_hosts()
    {
        var info = TorchBackend.EnsureInitialized();

        Assert.Equal(OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is null, info.AllocatorTuned);
    }

    [Fact]
    public void Generator_works_once_the_backend_is_initialised()
    {
        TorchBackend.EnsureInitialized();

        using var first = new torch.Generator(42);
        using var second = new torch.Generator(42);

        using var a = torch.rand([4], generator: first);
        using var b = torch.rand([4], generator: second);
        Assert.Equal(a.data<float>().ToArray(), b.data<float>().ToArray());
    }

    [Fact]
    public void Cuda_without_a_gpu_fails_with_a_clear_message_and_auto_falls_back_to_cpu()
    {
        var info = TorchBackend.EnsureInitialized();
        if (info.CudaAvailable)
        {
            return; // The CPU-only CI machines are where this matters; a GPU host resolves 'cuda' normally.
        }

        var error = Assert.Throws<InvalidOperationException>(() => TorchBackend.ResolveDevice(DevicePreference.Cuda));

        Assert.Contains("CUDA is not available", error.Message, StringComparison.Ordinal);
        Assert.Equal(DeviceType.CPU, TorchBackend.ResolveDevice(DevicePreference.Auto).type);
    }

    [Theory]
    [InlineData("auto", DevicePreference.Auto)]
    [InlineData("CPU", DevicePreference.Cpu)]
    [InlineData("cuda", DevicePreference.Cuda)]
    public void Device_preferences_parse(string text, DevicePreference expected) =>
        Assert.Equal(expected, TorchBackend.ParsePreference(text));

    [Fact]
    public void Unknown_device_preference_is_rejected() =>
        Assert.Throws<ArgumentException>(() => TorchBackend.ParsePreference("tpu"));
}
