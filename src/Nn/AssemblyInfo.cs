namespace Engine.Nn;
