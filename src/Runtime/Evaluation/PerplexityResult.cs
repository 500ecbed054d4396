namespace LongLM.Runtime.Evaluation;

/// <summary>Mean NLL of the tokens whose position lies in [Start, End).</summary>
public sealed record PositionBucket(long Start, long End, double Nll, long Count)
{
    /// <summary>exp(mean NLL).</summary>
    public double Ppl => Math.Exp(Nll);
}

/// <summary>One perplexity run over a token stream.</summary>
/// <param name="Buckets">[1,512), [512,1024), [1024,2048), then doubling; only buckets that hold tokens.</param>
/// <param name="Total">All scored tokens.</param>
/// <param name="Curve">Mean NLL per block of positions (block centre, NLL), for plots.</param>
/// <param name="TokensPerSecond">Tokens run through the model per second of wall time.</param>
public sealed record PerplexityResult(IReadOnlyList<PositionBucket> Buckets, PositionBucket Total, IReadOnlyList<(double Position, double Nll)> Curve, double TokensPerSecond);
