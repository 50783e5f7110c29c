"""lifetime page (being built)."""
import streamlit as st

st.title("lifetime")
st.info("This page is being built.")
