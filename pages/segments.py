"""segments page (being built)."""
import streamlit as st

st.title("segments")
st.info("This page is being built.")
