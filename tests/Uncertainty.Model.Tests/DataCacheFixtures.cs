using System.Net;
using Uncertainty.Model.Data;

namespace Uncertainty.Model.Tests;

/// <summary>
/// A test on a real fetched dataset. It runs where the dataset can be found: always when UNCERTAINTY_DATA_CACHE is set
/// (CI fetches into it, so a missing dataset fails there), else only when the default cache holds it.
/// </summary>
internal sealed class RealDatasetFactAttribute : FactAttribute
{
    public RealDatasetFactAttribute(string name)
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(DataCache.DirectoryVariable)) && !new DataCache().Contains(name))
        {
            Skip = $"{name} is not in the data cache; `{DataCache.FetchCommand(name)}` puts it there.";
        }
    }
}

/// <summary>An HTTP handler that answers every request with 200 and the same body (a download that is not the pinned one).</summary>
internal sealed class FixedResponse(byte[] body) : HttpMessageHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(body) });
}
