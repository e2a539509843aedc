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

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        var settings = new Dictionary<string, string?>
        {
            ["Uncertainty:ModelStore"] = ModelStore,
            ["Uncertainty:Device"] = "cpu",
            ["Uncertainty:MaxSamples"] = "5000",
            ["Uncertainty:MaxRowsPerRequest"] = "50",
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
