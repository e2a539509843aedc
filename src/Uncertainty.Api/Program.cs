using Uncertainty.Api;
using Uncertainty.Model.Native;

// Image builds run this once, as root, in the runtime stage: it loads the natives on the image's own libstdc++
// (applying the compatibility step there if that libstdc++ needs it), so a read-only container never has to.
if (args is ["--prepare-natives"])
{
    using var loggers = LoggerFactory.Create(logging => logging.AddSimpleConsole());
    var info = TorchBackend.Initialize(Environment.GetEnvironmentVariable("Uncertainty__LibTorchDirectory"), loggers.CreateLogger("Uncertainty.Natives"));
    var step = info.Compatibility is { Patched: true } patched ? $"marked {string.Join(", ", patched.Missing)} weak" : "not needed";
    Console.WriteLine($"natives ready: {info.LibTorchSource}; CUDA available: {info.CudaAvailable}; libstdc++ step: {step}");
    return;
}

var builder = WebApplication.CreateBuilder(args);
builder.AddUncertaintyApi();

var app = builder.Build();
app.MapUncertaintyApi();
// Only a server that binds sockets can find a port taken; the tests' in-memory server binds none.
bool bindsSockets = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().GetType().Assembly.GetName().Name!.StartsWith("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal);
if (bindsSockets && Uncertainty.Api.Hosting.Listeners.BusyEndpoint(app.Configuration) is { } busy)
{
    // Before anything starts: one line, which port, how to pick another, and a non-zero exit.
    Console.Error.WriteLine(Uncertainty.Api.Hosting.Listeners.BusyMessage(busy));
    Environment.ExitCode = 1;
    return;
}

try
{
    app.Run();
}
catch (IOException e) when (Uncertainty.Api.Hosting.Listeners.IsPortInUse(e, out var endpoint))
{
    // Taken between the check above and the bind: still one line.
    Console.Error.WriteLine(Uncertainty.Api.Hosting.Listeners.BusyMessage(endpoint));
    Environment.ExitCode = 1;
}

/// <summary>Entry point; public for WebApplicationFactory in the tests.</summary>
public partial class Program;
