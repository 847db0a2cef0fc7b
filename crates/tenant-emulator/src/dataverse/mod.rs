//! The Dataverse Web API engine (in progress).
