// Semantic search with a pretrained sentence encoder and no native code: all-MiniLM-L6-v2 is read from its NuGet
// package's DLL as data and run by the engine's managed kernels.
//   dotnet run -c Release --project samples/SentenceSimilarity -- "a kitten asleep on a rug"
using Engine.Pretrained;
using Samples.SentenceSimilarity;

string[] documents =
[
    "A cat sits on the mat.",
    "The stock market fell sharply on Tuesday.",
    "Heavy rain is expected over the weekend.",
    "He plays the guitar in a rock band.",
    "Central banks raised interest rates again.",
];
string query = args.Length > 0 ? string.Join(' ', args) : "a kitten asleep on a rug";

var search = new SemanticSearch(SentenceEmbedder.LoadMiniLm(), documents);
Console.WriteLine($"query: {query}");
foreach (var match in search.Search(query)) Console.WriteLine($"  {match.Similarity,6:F3}  {match.Document}");
