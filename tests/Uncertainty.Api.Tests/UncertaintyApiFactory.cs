using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;

namespace Uncertainty.Api.Tests;

/// <summary>The service in memory, with a temporary model store and small limits.</summary>
public sealed class UncertaintyApiFactory : WebApplicationFactory<Program>
{
    public string ModelStore { get; } = Path.Combine(Path.GetTempPath(), $"uncertainty-api-{Guid.NewGuid():N}");

    /// <summary>False to keep the model store after disposal (a restart test starts a second service on it).</summary>
    public bool DeleteStoreOnDispose { get; set; } = true;

    /// <summary>Extra settings, applied over the test defaults.</summary>
    public Dictionary<string, string?> Settings { get; } = [];

    /// <summary>
    /// A store with the built-in models, trained once per test run and copied into each factory's store:
    /// the seeding code still runs (and is tested by <see cref="SeedBuiltIns"/>), but not once per factory.
    /// </summary>
    private static readonly Lazy<string> SeededStore = new(() =>
    {
        Uncertainty.Model.Native.TorchBackend.EnsureInitialized();
        var root = Path.Combine(Path.GetTempPath(), $"uncertainty-seed-{Guid.NewGuid():N}");
        foreach (var name in Uncertainty.Api.Models.DefaultModels.Names)
        {
            using var package = Uncertainty.Api.Models.DefaultModels.Train(name);
            package.Save(Path.Combine(root, name, "1"));
            File.WriteAllText(Path.Combine(root, name, "default-version"), "1");
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) => DeleteTemporaryDirectory(root);
        return root;
    });

    /// <summary>Receives the service's log events (Serilog reads sinks from the container), for tests of what is logged.</summary>
    public Serilog.Core.ILogEventSink? LogSink { get; set; }

    /// <summary>Receives every finished span (server spans and the service's own), for tests of traces; null: none exported.</summary>
    public ICollection<System.Diagnostics.Activity>? Spans { get; set; }

    /// <summary>The built-in models the service makes itself on a fresh store (<see cref="SeedBuiltIns"/> false); null: the real ones.</summary>
    public Uncertainty.Api.Models.BuiltInModels? BuiltIns { get; set; }

    /// <summary>False for a store the service must seed itself (the test of that).</summary>
    public bool SeedBuiltIns { get; set; } = true;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        PrepareStore();
        if (LogSink is { } sink)
        {
            builder.ConfigureServices(services => Microsoft.Extensions.DependencyInjection.ServiceCollectionServiceExtensions.AddSingleton(services, sink));
        }

        if (Spans is { } spans)
        {
            builder.ConfigureServices(services => OpenTelemetry.Trace.OpenTelemetryDependencyInjectionTracingServiceCollectionExtensions.ConfigureOpenTelemetryTracerProvider(
                services, tracing => OpenTelemetry.Trace.InMemoryExporterHelperExtensions.AddInMemoryExporter(tracing, spans)));
        }

        if (BuiltIns is { } builtIns)
        {
            builder.ConfigureServices(services => Microsoft.Extensions.DependencyInjection.ServiceCollectionServiceExtensions.AddSingleton(services, builtIns));
        }

        var settings = new Dictionary<string, string?>
        {
            ["Uncertainty:ModelStore"] = ModelStore,
            ["Uncertainty:Device"] = "cpu",
            ["Uncertainty:MaxSamples"] = "5000",
            ["Uncertainty:MaxRowsPerRequest"] = "50",
            ["Uncertainty:DrainSeconds"] = "0",
            ["Serilog:MinimumLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in Settings)
        {
            settings[key] = value;
        }

        builder.ConfigureAppConfiguration(configuration => configuration.AddInMemoryCollection(settings));
    }

    /// <summary>A client once the default model is loaded.</summary>
    public async Task<HttpClient> ReadyClientAsync()
    {
        var client = CreateClient();
        for (var attempt = 0; attempt < 1200; attempt++)
        {
            if ((await client.GetAsync("/health/ready")).IsSuccessStatusCode)
            {
                return client;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("The service did not become ready in 120 s.");
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing && DeleteStoreOnDispose)
        {
            DeleteTemporaryDirectory(ModelStore);
        }
    }

    /// <summary>Copies the seeded built-ins into this factory's store (once; before the service starts, so a test can alter them).</summary>
    public void PrepareStore()
    {
        var store = Settings.TryGetValue("Uncertainty:ModelStore", out var configured) && configured is not null ? configured : ModelStore;
        if (SeedBuiltIns && !Directory.Exists(store))
        {
            CopyDirectory(SeededStore.Value, store);
        }
    }

    private static void CopyDirectory(string source, string target)
    {
        foreach (var directory in Directory.GetDirectories(source, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(directory.Replace(source, target, StringComparison.Ordinal));
        }

        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, file.Replace(source, target, StringComparison.Ordinal));
        }
    }

    /// <summary>Best-effort removal of a test's temporary store: a file still being closed by a stopping host is retried, then left to the OS.</summary>
    internal static void DeleteTemporaryDirectory(string path)
    {
        for (int attempt = 0; attempt < 5 && Directory.Exists(path); attempt++)
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (IOException)
            {
                Thread.Sleep(200);
            }
        }
    }
}
