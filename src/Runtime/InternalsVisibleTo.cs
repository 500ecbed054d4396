// Tests reach the tokenizer internals (KnownPatterns, PreTokenizerPipeline) to compare build-time and run-time regexes.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("LongLM.Tests")]
