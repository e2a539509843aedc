using Uncertainty.Api;

var builder = WebApplication.CreateBuilder(args);
builder.AddUncertaintyApi();

var app = builder.Build();
app.MapUncertaintyApi();
app.Run();

/// <summary>Entry point; public for WebApplicationFactory in the tests.</summary>
public partial class Program;
